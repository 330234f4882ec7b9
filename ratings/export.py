"""Streaming export of judgments as CSV and JSON lines, in constant memory.

Rows are read from the database in chunks and written one at a time; configurations,
prompts, criteria and each image's configuration (a few hundred rows at most) are looked up
from small dictionaries. csv_lines and jsonl_lines write the lines of judgment_records
straight from the rows, with what repeats between rows rendered once (per configuration,
prompt, rater, and per comparison for at most _COMPARISON_CACHE comparisons at a time), so
memory stays flat whatever the number of judgments. Excluded raters are left out, as
everywhere in the analysis. Raters appear under a pseudonym that is stable within a study
and reveals nothing without the server's key.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db.models import Q, TextField
from django.db.models.functions import Cast

from generation.models import PARAM_FIELDS, Image, Prompt
from ratings.models import Comparison, Criterion, Study
from ratings.reports import ConfigInfo, study_configs, study_judgments

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 2000
PARAM_COLUMNS = (*PARAM_FIELDS, "adapters")
#: What each image was rendered from, as its render recorded it (Image.params and
#: Image.versions, the same source as the pair browser's "Rendered from"); empty until rendered.
RECIPE_COLUMNS = ("rendered_prompt", "rendered_negative_prompt", "rendered_seed", "versions")
COLUMNS: tuple[str, ...] = (
    "study_id",
    "study",
    "comparison_id",
    "is_gold",
    "prompt_id",
    "prompt",
    "seed",
    "criterion",
    "rater",
    "config_a_id",
    "config_a_label",
    *(f"config_a_{p}" for p in PARAM_COLUMNS),
    "config_b_id",
    "config_b_label",
    *(f"config_b_{p}" for p in PARAM_COLUMNS),
    "image_a_id",
    "image_b_id",
    *(f"image_{side}_{r}" for side in "ab" for r in RECIPE_COLUMNS),
    "left",
    "left_image_id",
    "left_config_id",
    "outcome",
    "winner",
    "winner_config_id",
    "tags",
    "response_ms",
    "flagged_fast",
    "is_repeat",
    "created_at",
)


def rater_pseudonym(*, study_id: int, rater_id: int) -> str:
    """Stable within a study, different across studies, not reversible without SECRET_KEY."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"loupe-rater:{study_id}:{rater_id}".encode(), hashlib.sha256
    ).hexdigest()
    return f"r-{digest[:12]}"


def neutralise(value: Any) -> Any:
    """Defuse spreadsheet formulas: text cells starting with = + - @ (or tab/CR) get a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _adapters_text(adapters: list[dict[str, Any]]) -> str:
    return "; ".join(f"{a['adapter']}×{a['scale']:g}" for a in adapters)


class _Row(NamedTuple):
    """One judgment as JudgmentRecords._rows reads it (the order of its values_list)."""

    comparison_id: int
    is_gold: bool
    prompt_id: int
    seed: int
    criterion_id: int
    rater_id: int
    image_a: int
    image_b: int
    left_id: int
    outcome: str
    winner_id: int | None
    tags: str | None
    response_ms: int | None
    flagged_fast: bool
    is_repeat: bool
    created_at: datetime
    a_prompt: str | None
    a_negative_prompt: str | None
    a_seed: int | None
    a_versions: dict[str, str] | None
    b_prompt: str | None
    b_negative_prompt: str | None
    b_seed: int | None
    b_versions: dict[str, str] | None


class JudgmentRecords:
    """The judgments to export (first votes and repeats), oldest first; read when iterated.

    Iterating gives one plain dict per judgment. csv_lines and jsonl_lines read the rows
    underneath instead and write each line straight from them, with what repeats from row to
    row (configurations, prompts, criteria, pseudonyms) rendered once: the same text as
    writing the dicts, several times faster.
    """

    def __init__(self, *, study: Study, criterion: Criterion | None = None) -> None:
        self.study = study
        self.criterion = criterion

    def _lookups(
        self,
    ) -> tuple[dict[int, ConfigInfo], dict[int, str], dict[int, str], dict[int, int]]:
        """Configurations, prompt texts, criterion keys, and each image's configuration."""
        comparisons = Comparison.objects.filter(study=self.study)
        configs = study_configs(study=self.study)
        prompts = dict(
            Prompt.objects.filter(pk__in=comparisons.values("prompt_id")).values_list("pk", "text")
        )
        criteria = dict(Criterion.objects.filter(study=self.study).values_list("pk", "key"))
        images = dict(
            Image.objects.filter(
                Q(pk__in=comparisons.values("image_a_id"))
                | Q(pk__in=comparisons.values("image_b_id"))
            ).values_list("pk", "config_id")
        )
        return configs, prompts, criteria, images

    def _rows(self) -> Iterator[tuple[Any, ...]]:
        rows = (
            study_judgments(study=self.study, criterion=self.criterion, repeats=True)
            # Tags as their JSON text: almost all are "[]", which needs no parsing.
            .annotate(tags_text=Cast("tags", TextField()))
            .values_list(
                "comparison_id",
                "comparison__is_gold",
                "comparison__prompt_id",
                "comparison__seed",
                "criterion_id",
                "rater_id",
                "comparison__image_a_id",
                "comparison__image_b_id",
                "presentation__left_id",
                "outcome",
                "winner_id",
                "tags_text",
                "response_ms",
                "flagged_fast",
                "is_repeat",
                "created_at",
                "comparison__image_a__params__prompt",
                "comparison__image_a__params__negative_prompt",
                "comparison__image_a__params__seed",
                "comparison__image_a__versions",
                "comparison__image_b__params__prompt",
                "comparison__image_b__params__negative_prompt",
                "comparison__image_b__params__seed",
                "comparison__image_b__versions",
            )
            .order_by("id")
        )
        return rows.iterator(chunk_size=CHUNK)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        study = self.study
        configs, prompts, criteria, images = self._lookups()
        pseudonyms: dict[int, str] = {}
        for row in map(_Row._make, self._rows()):
            if row.rater_id not in pseudonyms:
                pseudonyms[row.rater_id] = rater_pseudonym(study_id=study.pk, rater_id=row.rater_id)
            image_a, image_b = row.image_a, row.image_b
            config_a, config_b = images[image_a], images[image_b]
            side: dict[int | None, str] = {image_a: "a", image_b: "b"}
            configs_of: dict[int | None, int] = {image_a: config_a, image_b: config_b}
            yield {
                "study_id": study.pk,
                "study": study.name,
                "comparison_id": row.comparison_id,
                "is_gold": row.is_gold,
                "prompt_id": row.prompt_id,
                "prompt": prompts.get(row.prompt_id, ""),
                "seed": row.seed,
                "criterion": criteria.get(row.criterion_id, ""),
                "rater": pseudonyms[row.rater_id],
                "config_a": configs[config_a],
                "config_b": configs[config_b],
                "image_a_id": image_a,
                "image_b_id": image_b,
                **_recipe("a", row.a_prompt, row.a_negative_prompt, row.a_seed, row.a_versions),
                **_recipe("b", row.b_prompt, row.b_negative_prompt, row.b_seed, row.b_versions),
                "left": side.get(row.left_id, ""),
                "left_image_id": row.left_id,
                "left_config_id": config_a if row.left_id == image_a else config_b,
                "outcome": row.outcome,
                "winner": side.get(row.winner_id, ""),
                "winner_config_id": configs_of.get(row.winner_id),
                "tags": _tags(row.tags),
                "response_ms": row.response_ms,
                "flagged_fast": row.flagged_fast,
                "is_repeat": row.is_repeat,
                "created_at": row.created_at.isoformat(),
            }


def _recipe(
    side: str,
    prompt: str | None,
    negative_prompt: str | None,
    seed: int | None,
    versions: dict[str, str] | None,
) -> dict[str, Any]:
    """An image's recipe cells; an image not rendered yet has none ("" / null)."""
    return {
        f"image_{side}_rendered_prompt": prompt if prompt is not None else "",
        f"image_{side}_rendered_negative_prompt": (
            negative_prompt if negative_prompt is not None else ""
        ),
        f"image_{side}_rendered_seed": seed,
        f"image_{side}_versions": dict(sorted((versions or {}).items())),
    }


def versions_text(versions: dict[str, str]) -> str:
    """Library versions in one cell, as the pair browser lists them: "diffusers 0.30, torch 2.4".

    Sorted by name: PostgreSQL's jsonb keeps keys in its own order (shortest first), not the
    order the worker wrote them in.
    """
    return ", ".join(f"{name} {version}" for name, version in sorted(versions.items()))


def judgment_records(*, study: Study, criterion: Criterion | None = None) -> JudgmentRecords:
    """One plain dict per judgment (first votes and repeats), oldest first, when iterated."""
    return JudgmentRecords(study=study, criterion=criterion)


def _tags(text: str | None) -> list[Any]:
    if text is None or text == "[]":
        return []
    return list(json.loads(text) or [])


def _config_cells(info: ConfigInfo) -> list[Any]:
    """A configuration's cells in the CSV: id, label, parameters, adapters."""
    cells: list[Any] = [info.id, info.label]
    for key in PARAM_COLUMNS:
        cells.append(
            _adapters_text(info.params["adapters"]) if key == "adapters" else info.params[key]
        )
    return cells


def _flat(record: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for column in COLUMNS:
        if column.startswith(("config_a_", "config_b_")):
            info: ConfigInfo = record[column[:8]]
            key = column[9:]
            if key == "id":
                out.append(info.id)
            elif key == "label":
                out.append(info.label)
            elif key == "adapters":
                out.append(_adapters_text(info.params["adapters"]))
            else:
                out.append(info.params[key])
        elif column == "tags":
            out.append("; ".join(map(str, record["tags"])))
        elif column.endswith("_versions"):
            out.append(versions_text(record[column]))
        elif column.endswith("_rendered_seed"):
            out.append("" if record[column] is None else record[column])
        else:
            out.append(record[column])
    return [neutralise(v) for v in out]


class _Line:
    """A file-like object whose write() hands back what csv.writer wrote."""

    def write(self, value: str) -> str:
        return value


class _Cells:
    """Renders cells exactly as csv_lines' writer would, neutralised; for the fast path."""

    def __init__(self) -> None:
        # A trailing empty cell: csv.writer quotes a row made of one empty cell.
        self._writer = csv.writer(_Line(), lineterminator="")

    def __call__(self, *values: Any) -> str:
        return str(self._writer.writerow([*(neutralise(v) for v in values), ""]))[:-1]


#: Distinct tag lists remembered per export (they repeat: a handful of defect tags).
_TAG_CACHE = 4096


#: Comparisons whose pre-rendered pieces one export keeps at a time (a few hundred bytes each).
_COMPARISON_CACHE = 20_000


def _fast_lines(records: JudgmentRecords, fmt: str) -> Iterator[str]:
    """Each judgment's CSV or JSON line, written straight from its row.

    The same text as csv_lines / jsonl_lines over the records' dicts: every value that is
    text goes through the same writer (CSV, neutralised) or json.dumps (JSON lines), once per
    distinct value, and what belongs to a comparison is rendered once per comparison; ids and
    counts are integers, written as both write integers (str), and timestamps hold nothing to
    quote or escape.
    """
    study = records.study
    configs, prompts, criteria, images = records._lookups()
    csv_format = fmt == "csv"
    text: Callable[..., str]
    if csv_format:
        text = _Cells()
        null, true, false = "", "True", "False"
        configs_text = {cid: text(*_config_cells(info)) for cid, info in configs.items()}
    else:

        def text(value: Any) -> str:
            return json.dumps(value, ensure_ascii=False, default=str)

        null, true, false = "null", "true", "false"
        configs_text = {
            cid: text({"id": info.id, "label": info.label, **info.params})
            for cid, info in configs.items()
        }
    study_text = text(study.name)
    prompt_text = {pk: text(t) for pk, t in prompts.items()}
    criterion_text = {pk: text(key) for pk, key in criteria.items()}
    empty, side_a, side_b = text(""), text("a"), text("b")
    flags = {
        (fast, repeat): (
            f"{true if fast else false},{true if repeat else false}"
            if csv_format
            else f'"flagged_fast": {true if fast else false}, '
            f'"is_repeat": {true if repeat else false}'
        )
        for fast in (False, True)
        for repeat in (False, True)
    }

    def left_text(side: str, image: int, config: int) -> str:
        if csv_format:
            return f"{side},{image},{config}"
        return f'"left": {side}, "left_image_id": {image}, "left_config_id": {config}'

    def winner_text(side: str, config: str) -> str:
        return (
            f"{side},{config}" if csv_format else f'"winner": {side}, "winner_config_id": {config}'
        )

    Pieces = tuple[str, str, dict[int, str], dict[int | None, str], int, str, str]

    def recipe_text(recipe: tuple[Any, ...]) -> str:
        """Both images' recipe cells, as the records' dicts write them."""
        cells = {**_recipe("a", *recipe[:4]), **_recipe("b", *recipe[4:])}
        if csv_format:
            return text(
                *(
                    versions_text(value) if key.endswith("_versions") else value
                    for key, value in cells.items()
                )
            )
        return ", ".join(f"{json.dumps(key)}: {text(value)}" for key, value in cells.items())

    def pieces(
        comparison_id: int,
        is_gold: bool,
        prompt_id: int,
        seed: int,
        image_a: int,
        image_b: int,
        recipe: tuple[Any, ...],
    ) -> Pieces:
        """What a comparison's lines share: before the criterion, after the rater, the left
        and winner cells by image id, and image b's config (the left config otherwise)."""
        config_a, config_b = images[image_a], images[image_b]
        prompt = prompt_text.get(prompt_id, empty)
        gold = true if is_gold else false
        if csv_format:
            head = f"{study.pk},{study_text},{comparison_id},{gold},{prompt_id},{prompt},{seed},"
            middle = f"{image_a},{image_b},{recipe_text(recipe)}"
        else:
            head = (
                f'{{"study_id": {study.pk}, "study": {study_text}, '
                f'"comparison_id": {comparison_id}, "is_gold": {gold}, '
                f'"prompt_id": {prompt_id}, "prompt": {prompt}, "seed": {seed}, "criterion": '
            )
            middle = f'"image_a_id": {image_a}, "image_b_id": {image_b}, {recipe_text(recipe)}'
        lefts = {image_a: left_text(side_a, image_a, config_a)}
        lefts.setdefault(image_b, left_text(side_b, image_b, config_b))
        winners: dict[int | None, str] = {
            image_a: winner_text(side_a, str(config_a)),
            image_b: winner_text(side_b, str(config_b)),
        }
        return (
            head,
            middle,
            lefts,
            winners,
            config_b,
            configs_text[config_a],
            configs_text[config_b],
        )

    by_comparison: dict[int, Pieces] = {}
    no_winner = winner_text(empty, null)
    outcomes: dict[str, str] = {}
    tags_text: dict[str | None, str] = {}
    pseudonyms: dict[int, str] = {}
    for (
        comparison_id,
        is_gold,
        prompt_id,
        seed,
        criterion_id,
        rater_id,
        image_a,
        image_b,
        left_id,
        outcome,
        winner_id,
        tags,
        response_ms,
        flagged_fast,
        is_repeat,
        created_at,
        *recipe,
    ) in records._rows():
        shared = by_comparison.get(comparison_id)
        if shared is None:
            if len(by_comparison) >= _COMPARISON_CACHE:
                by_comparison.clear()
            shared = by_comparison[comparison_id] = pieces(
                comparison_id, is_gold, prompt_id, seed, image_a, image_b, tuple(recipe)
            )
        head, middle, lefts, winners, config_b, config_a_text, config_b_text = shared
        rater = pseudonyms.get(rater_id)
        if rater is None:
            rater = pseudonyms[rater_id] = text(
                rater_pseudonym(study_id=study.pk, rater_id=rater_id)
            )
        left = lefts.get(left_id)
        if left is None:  # neither image of the pair: counted as b's side, as the records do
            left = left_text(empty, left_id, config_b)
        winner = winners.get(winner_id, no_winner)
        outcome_text = outcomes.get(outcome)
        if outcome_text is None:
            outcome_text = outcomes[outcome] = text(outcome)
        tag_text = tags_text.get(tags)
        if tag_text is None:
            if len(tags_text) >= _TAG_CACHE:
                tags_text.clear()
            parsed = _tags(tags)
            tag_text = tags_text[tags] = text("; ".join(map(str, parsed)) if csv_format else parsed)
        ms = null if response_ms is None else str(response_ms)
        criterion = criterion_text.get(criterion_id, empty)
        # isoformat() gives digits and -:T.+ only: nothing to quote, escape or neutralise.
        created = created_at.isoformat()
        if csv_format:
            yield (
                f"{head}{criterion},{rater},{config_a_text},{config_b_text},{middle},{left},"
                f"{outcome_text},{winner},{tag_text},{ms},{flags[flagged_fast, is_repeat]},"
                f"{created}\r\n"
            )
        else:
            yield (
                f'{head}{criterion}, "rater": {rater}, {middle}, {left}, '
                f'"outcome": {outcome_text}, {winner}, "tags": {tag_text}, "response_ms": {ms}, '
                f'{flags[flagged_fast, is_repeat]}, "created_at": "{created}", '
                f'"config_a": {config_a_text}, "config_b": {config_b_text}}}\n'
            )


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(COLUMNS)
    if isinstance(records, JudgmentRecords):
        yield from _fast_lines(records, "csv")
        return
    for record in records:
        yield writer.writerow(_flat(record))


def jsonl_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    if isinstance(records, JudgmentRecords):
        yield from _fast_lines(records, "jsonl")
        return
    for record in records:
        out = dict(record)
        for side in ("config_a", "config_b"):
            info: ConfigInfo = out.pop(side)
            out[side] = {"id": info.id, "label": info.label, **info.params}
        yield json.dumps(out, ensure_ascii=False, default=str) + "\n"


def encoded_chunks(lines: Iterable[str], size: int = 64 * 1024) -> Iterator[bytes]:
    """Lines joined into UTF-8 chunks of about `size` characters: a response writes a few
    large pieces instead of one small piece per judgment."""
    batch: list[str] = []
    length = 0
    for line in lines:
        batch.append(line)
        length += len(line)
        if length >= size:
            yield "".join(batch).encode()
            batch.clear()
            length = 0
    if batch:
        yield "".join(batch).encode()


def export_filename(study: Study, criterion: Criterion | None, ext: str) -> str:
    suffix = f"-{criterion.key}" if criterion else ""
    return f"loupe-study-{study.pk}-judgments{suffix}.{ext}"
