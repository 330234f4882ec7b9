"""The fast path: each judgment's line written straight from its row (the same text as the
plain path, several times faster; bench/analysis.py measures the ratio, tests/ratings/test_export.py
checks the text)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from typing import Any

from ratings.export.cells import (
    LineWriter,
    config_cells,
    neutralise,
    rater_pseudonym,
    recipe_cells,
    tags_of,
    versions_text,
)
from ratings.export.records import JudgmentRecords


class _Cells:
    """Renders cells exactly as csv_lines' writer would, neutralised; for the fast path."""

    def __init__(self) -> None:
        # A trailing empty cell: csv.writer quotes a row made of one empty cell.
        self._writer = csv.writer(LineWriter(), lineterminator="")

    def __call__(self, *values: Any) -> str:
        return str(self._writer.writerow([*(neutralise(v) for v in values), ""]))[:-1]


#: Distinct tag lists remembered per export (they repeat: a handful of defect tags).
_TAG_CACHE = 4096


#: Comparisons whose pre-rendered pieces one export keeps at a time (a few hundred bytes each).
_COMPARISON_CACHE = 20_000


def fast_lines(records: JudgmentRecords, fmt: str) -> Iterator[str]:
    """Each judgment's CSV or JSON line, written straight from its row.

    The same text as csv_lines / jsonl_lines over the records' dicts: every value that is
    text goes through the same writer (CSV, neutralised) or json.dumps (JSON lines), once per
    distinct value, and what belongs to a comparison is rendered once per comparison; ids and
    counts are integers, written as both write integers (str), and timestamps hold nothing to
    quote or escape.
    """
    study = records.study
    configs, prompts, criteria, images = records.lookups()
    csv_format = fmt == "csv"
    text: Callable[..., str]
    if csv_format:
        text = _Cells()
        null, true, false = "", "True", "False"
        configs_text = {cid: text(*config_cells(info)) for cid, info in configs.items()}
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
        cells = {**recipe_cells("a", *recipe[:4]), **recipe_cells("b", *recipe[4:])}
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
    ) in records.rows():
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
            parsed = tags_of(tags)
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
