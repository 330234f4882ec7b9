"""Analysis benchmark: the dashboard's numbers and the judgment export on a big study in PostgreSQL.

    .venv/bin/python bench/analysis.py [--quick] [--judgments N]

Creates a throwaway database (loupe_bench_analysis on 127.0.0.1:5432, user postgres), migrates
it and bulk-loads a synthetic study with COPY: 48 configurations (4 samplers x 3 CFG x 2 step
counts x 2 compel levels), 6 prompts x 2 seeds, every config pair on every prompt-seed cell
(about 2 % of them gold), one rater per 8,000 judgments (at least 12: one votes at random and
is excluded by the researcher, one favours the left side, one is too fast), presentations
with sides drawn at random, 5 % swapped-sides repeats, and two criteria judged on every
presentation with simulated Bradley-Terry preferences (factor effects plus a left-side bias,
7 % ties, 3 % "both bad"). 1,000,000 judgments by default, 100,000 with --quick. The
triggers that keep PairExposure and VoteTally are skipped during the COPY (replica mode) and
the counts written afterwards, as migrations 0004 and 0006 backfill them. The
database is dropped at the end.

Figures (each the median of several repeats, candidate and baseline interleaved ABBA):
- dashboard_cold_*: every number the study dashboard shows (ratings.views.analysis's context:
  win rates, leaderboard with its 200-resample bootstrap, factor effects, rater quality,
  metrics against people, pair browser, judgment count), the cache cleared first (which also
  drops the study's votes the process held for the reports: the state after a new vote);
  for one criterion and for all criteria together. win_rate_table_cold: the win-rate table
  alone, cache cleared. A comment line splits one cold pass into its parts.
  Baseline for the cold figures: what a first analysis script does per request (pandas is not
  installed, so numpy stands in for it): load every counted judgment row with both configs'
  parameters into Python, then build the same win-rate table with vectorised numpy counts
  (checked against the real table first). It computes the win-rate table only, so the
  dashboard lines compare five reports and the pair browser against one table.
- dashboard_warm_*: the same dashboard again, its reports cached. Baseline: the cold dashboard
  of the same code (what the cache saves, nothing else).
- cache_invalidated_by_vote: after one vote through ratings.services.judging, the next
  dashboard recomputes (its judgment counts move) instead of serving the cached figures.
- export_csv / export_jsonl: rows/s of the export's UTF-8 chunks written to /dev/null, as the
  export API streams them (csv_lines / jsonl_lines writing each line straight from the rows).
  Baseline: the project's own simple streaming path, the same records iterated as one dict per
  judgment and written with csv.writer / json.dumps through the same chunking. Checked first:
  both write the same lines. A comment line gives the CSV API view itself (HttpResponse
  included), one run.
- export_*_peak_memory: how far the process's resident memory rose above where it stood
  (the kernel's high-water mark, VmHWM, reset just before), each measured once in a fresh
  subprocess; same baseline (both stream, so both stay small).
For lower-is-better figures (seconds, MB) the ratio is baseline/value, for rows/s it is
value/baseline: a ratio above 1 always means the candidate is better.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from benchdb import PG, admin

ROOT = Path(__file__).resolve().parent.parent
DB = "loupe_bench_analysis"

SAMPLERS = ("euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras")
CFGS = (5.0, 7.0, 9.0)
STEPS = (20, 30)
COMPEL = ("none", "medium")
N_PROMPTS = 6
SEEDS_PER_PROMPT = 2
GOLD_SHARE = 0.02
REPEAT_SHARE = 0.05  # of all presentations: swapped-sides repeats
TIE, BOTH_BAD = 0.07, 0.03
LEFT_BIAS = 0.15  # log-odds, every rater
NEGATIVE = "low quality, clutter, vintage"
TAGS = ("[]", '["a:prongs"]')  # jsonb text: no tag, or one defect tag
#: True effects (log-odds) of each factor level, per criterion (the study's two defaults).
EFFECTS: tuple[dict[str, dict[Any, float]], ...] = (
    {
        "sampler": {"euler_a": 0.25, "ddim": -0.2, "dpmpp_2m": 0.05, "dpmpp_2m_karras": 0.15},
        "cfg": {5.0: -0.35, 7.0: 0.0, 9.0: 0.2},
        "steps": {20: 0.0, 30: 0.1},
        "compel_level": {"none": 0.0, "medium": 0.3},
    },
    {
        "sampler": {"euler_a": 0.1, "ddim": -0.1, "dpmpp_2m": 0.2, "dpmpp_2m_karras": 0.25},
        "cfg": {5.0: 0.1, 7.0: 0.1, 9.0: -0.15},
        "steps": {20: 0.0, 30: 0.2},
        "compel_level": {"none": 0.0, "medium": -0.05},
    },
)


# --------------------------------------------------------------------------- setup


def _environment() -> None:
    os.environ.update(
        {
            "DATABASE_URL": PG + DB,
            "DJANGO_SETTINGS_MODULE": "evalsite.settings",
            "SECRET_KEY": os.environ.get("LOUPE_BENCH_SECRET") or secrets.token_hex(32),
            "DEBUG": "0",  # no query log: it would grow with every row read
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            # The default per-process cache, whatever the shell says (pickled like Redis).
            "CACHE_URL": "locmemcache://",
        }
    )
    os.environ["LOUPE_BENCH_SECRET"] = os.environ["SECRET_KEY"]  # children share it
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass(frozen=True)
class Seeded:
    study_id: int
    criteria: tuple[str, ...]
    judgments: int
    presentations: int
    raters: int
    configs: int
    comparisons: int
    load_s: float


def _copy(cursor: Any, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
    """COPY text-format lines into a table, 200k rows per statement."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    chunk: list[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == 200_000:
            cursor.copy_expert(sql, io.StringIO("".join(chunk)))
            chunk = []
    if chunk:
        cursor.copy_expert(sql, io.StringIO("".join(chunk)))


def _stamps(seconds: np.ndarray, start: datetime) -> list[str]:
    base = np.datetime64(start.replace(tzinfo=None), "ms")
    moments = base + (seconds * 1000).astype("timedelta64[ms]")
    return [s + "+00" for s in np.datetime_as_string(moments, unit="ms")]


def seed(n_judgments: int, rng: np.random.Generator) -> Seeded:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from generation.models import Image
    from generation.services.configs import config_create
    from generation.services.prompts import prompt_create
    from ratings.models import Comparison, Study
    from ratings.services.raters import rater_exclude
    from ratings.services.studies import study_create

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    grid = [
        (s, c, st, cl) for s in SAMPLERS for c in CFGS for st in STEPS for cl in COMPEL
    ]  # fmt: skip
    configs = [
        config_create(
            name=f"{s} cfg{c:g} {st}st {cl}", sampler=s, cfg=c, steps=st, compel_level=cl,
            negative_prompt=NEGATIVE, width=512, height=512,
        )[0]
        for s, c, st, cl in grid
    ]  # fmt: skip
    theta = np.array(
        [[sum(e[f][v] for f, v in zip(e, g, strict=True)) for g in grid] for e in EFFECTS]
    )
    prompts = [
        prompt_create(
            text=f"product shot {i}: huggie hoops in gold, white background",
            category="huggie hoops", key_terms=["huggie hoops"],
        )
        for i in range(N_PROMPTS)
    ]  # fmt: skip
    baseline = configs[grid.index(("euler_a", 7.0, 20, "none"))]
    study = study_create(
        name="analysis bench", prompts=prompts, configs=configs, baseline=baseline,
        seeds_per_prompt=SEEDS_PER_PROMPT,
    )  # fmt: skip
    criteria = list(study.criteria.order_by("order"))
    assert len(criteria) == len(EFFECTS)
    cells = [(p, s) for p in prompts for s in study.seeds()]
    images = Image.objects.bulk_create(
        Image(config=c, prompt=p, seed=s, status=Image.Status.DONE,
              display_file=f"img/{secrets.token_hex(16)}.webp")
        for p, s in cells for c in configs
    )  # fmt: skip
    config_index = {c.pk: i for i, c in enumerate(configs)}
    pairs = []
    for k in range(len(cells)):
        block = sorted(images[k * len(configs) : (k + 1) * len(configs)], key=lambda im: im.pk)
        pairs += [(a, b) for i, a in enumerate(block) for b in block[i + 1 :]]
    ca = np.array([config_index[a.config_id] for a, _ in pairs])
    cb = np.array([config_index[b.config_id] for _, b in pairs])
    gap = theta[0, ca] - theta[0, cb]
    gold = (rng.random(len(pairs)) < GOLD_SHARE * 4) & (np.abs(gap) > 0.5)  # clear pairs only
    comparisons = Comparison.objects.bulk_create(
        (
            Comparison(
                study=study, prompt_id=a.prompt_id, seed=a.seed, image_a=a, image_b=b,
                is_gold=bool(g), gold_winner=(a if d > 0 else b) if g else None,
            )
            for (a, b), g, d in zip(pairs, gold, gap, strict=True)
        ),
        batch_size=5000,
    )  # fmt: skip
    comp_id = np.array([c.pk for c in comparisons])
    image_a = np.array([a.pk for a, _ in pairs])
    image_b = np.array([b.pk for _, b in pairs])

    # Raters: enough that each sees at most 60 % of the comparisons.
    n_pres = n_judgments // len(criteria)
    n_repeat = round(n_pres * REPEAT_SHARE)
    n_first = n_pres - n_repeat
    n_raters = max(12, round(n_judgments / 8000), math.ceil(n_first / (0.6 * len(pairs))))
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-rater-{i:04d}", password="!") for i in range(n_raters)
    )
    rater_id = np.array([u.pk for u in users])
    skill = np.ones(n_raters)
    left_bias = np.full(n_raters, LEFT_BIAS)
    ms_mean = np.full(n_raters, math.log(2200.0))
    skill[0] = 0.0  # votes at random: the researcher excludes this one
    left_bias[1] = 2.0  # clicks the left image
    ms_mean[2] = math.log(450.0)  # too fast
    share = np.full(n_raters, n_first // n_raters)
    share[: n_first - share.sum()] += 1
    rater = np.repeat(np.arange(n_raters), share)
    comp = np.concatenate([rng.choice(len(pairs), k, replace=False) for k in share])
    a_left = rng.random(n_first) < 0.5
    shown = rng.uniform(0, 29 * 86400, n_first)
    again = rng.choice(n_first, n_repeat, replace=False)
    rater = np.concatenate([rater, rater[again]])
    comp = np.concatenate([comp, comp[again]])
    a_left = np.concatenate([a_left, ~a_left[again]])  # the repeat swaps sides
    shown = np.concatenate([shown, shown[again] + rng.uniform(600, 86400, n_repeat)])
    repeat = np.arange(n_pres) >= n_first
    order = np.argsort(shown, kind="stable")  # ids in the order things happened
    rater, comp, a_left, shown, repeat = (
        rater[order],
        comp[order],
        a_left[order],
        shown[order],
        repeat[order],
    )
    took = np.exp(rng.normal(ms_mean[rater], 0.5)).round().astype(np.int64)
    answered = shown + took / 1000
    start = datetime.now(UTC) - timedelta(days=30)
    shown_s, answered_s = _stamps(shown, start), _stamps(answered, start)
    left_id = np.where(a_left, image_a[comp], image_b[comp])
    fast = took < study.min_response_ms
    pres_id = np.arange(1, n_pres + 1)

    def presentation_lines() -> Iterable[str]:
        for i in range(n_pres):
            yield (
                f"{pres_id[i]}\t{comp_id[comp[i]]}\t{rater_id[rater[i]]}\t{left_id[i]}\t"
                f"{'t' if repeat[i] else 'f'}\t{shown_s[i]}\t{answered_s[i]}\t\\N\n"
            )

    # Outcomes per criterion: Bradley-Terry on the configs' true strengths, plus side bias.
    side = np.where(a_left, 1.0, -1.0)
    outcome_code = np.empty((len(criteria), n_pres), dtype=np.int8)  # 0 a, 1 b, 2 tie, 3 bad
    for c in range(len(criteria)):
        logit = skill[rater] * (theta[c, ca[comp]] - theta[c, cb[comp]]) + left_bias[rater] * side
        a_wins = rng.random(n_pres) < 1 / (1 + np.exp(-logit))
        u = rng.random(n_pres)
        outcome_code[c] = np.where(
            u < TIE, 2, np.where(u < TIE + BOTH_BAD, 3, np.where(a_wins, 0, 1))
        )
    tagged = rng.random(n_pres) < 0.03

    def judgment_lines() -> Iterable[str]:
        outcome = ("win", "win", "tie", "both_bad")
        jid = 0
        for i in range(n_pres):
            k = comp[i]
            winners = (image_a[k], image_b[k], "\\N", "\\N")
            head = f"{pres_id[i]}\t{comp_id[k]}\t{rater_id[rater[i]]}\t"
            tail = (
                f"\t{'t' if repeat[i] else 'f'}\t{TAGS[int(tagged[i])]}\t"
                f"{took[i]}\t{'t' if fast[i] else 'f'}\t{answered_s[i]}\n"
            )
            for c, criterion in enumerate(criteria):
                jid += 1
                code = outcome_code[c, i]
                yield f"{jid}\t{head}{criterion.pk}\t{outcome[code]}\t{winners[code]}{tail}"

    with connection.cursor() as cursor:
        # Replica mode skips triggers for this session: the foreign-key checks (the data is
        # consistent by construction) and the triggers that keep PairExposure and VoteTally,
        # recomputed below with the statements migrations 0004 and 0006 backfill them with.
        cursor.execute("SET session_replication_role = replica")
        _copy(
            cursor, "ratings_presentation",
            ("id", "comparison_id", "rater_id", "left_id", "is_repeat", "shown_at",
             "answered_at", "skipped_at"),
            presentation_lines(),
        )  # fmt: skip
        _copy(
            cursor, "ratings_judgment",
            ("id", "presentation_id", "comparison_id", "rater_id", "criterion_id", "outcome",
             "winner_id", "is_repeat", "tags", "response_ms", "flagged_fast", "created_at"),
            judgment_lines(),
        )  # fmt: skip
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute(importlib.import_module("ratings.migrations.0004_perf").BACKFILL, [False])
        cursor.execute(importlib.import_module("ratings.migrations.0006_vote_tally").BACKFILL)
        for table in ("ratings_presentation", "ratings_judgment"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
            )
        # A live database has been vacuumed and analysed by autovacuum.
        cursor.execute("VACUUM ANALYZE")
    study.status = Study.Status.OPEN
    study.save(update_fields=["status"])
    rater_exclude(study=study, rater=users[0])
    return Seeded(
        study_id=study.pk,
        criteria=tuple(c.key for c in criteria),
        judgments=n_pres * len(criteria),
        presentations=n_pres,
        raters=n_raters,
        configs=len(configs),
        comparisons=len(pairs),
        load_s=time.perf_counter() - started,
    )


# --------------------------------------------------------------------------- the dashboard


def dashboard(study_id: int, key: str) -> dict[str, Any]:
    """Every number the dashboard page shows, as the view computes them (template apart)."""
    from ratings.models import Study
    from ratings.reports.dashboard import study_dashboard

    return study_dashboard(study=Study.objects.get(pk=study_id), criterion_key=key)


#: The level strings of ratings.reports.configs.config_levels, from raw parameter values.
NAIVE_FACTORS: dict[str, tuple[tuple[str, ...], Callable[..., str]]] = {
    "sampler": (("sampler",), str),
    "steps": (("steps",), str),
    "cfg": (("cfg",), lambda x: f"{x:g}"),
    "compel_level": (("compel_level",), str),
    "negative_prompt": (("negative_prompt",), lambda x: " ".join(x.split()) or "(none)"),
    "vae": (("vae",), lambda x: x or "(model's own)"),
    "base_model": (("base_model",), str),
    "size": (("width", "height"), lambda w, h: f"{w}×{h}"),
    "insert_trigger": (("insert_trigger",), lambda x: "on" if x else "off"),
}


def naive_win_rates(study_id: int, key: str) -> dict[tuple[str, str], tuple[float, ...]]:
    """The baseline: every counted judgment row with both configs' parameters loaded into Python
    per request (as a pandas script would read them), then the win-rate table counted with numpy.

    Same rules as the real table: first votes only, gold pairs and excluded raters left out,
    ties and "both bad" half a win each; Wilson interval, exact binomial p and Holm from
    ratings.analysis. (Adapters are not read: the bench's configs have none.)
    """
    from ratings import analysis
    from ratings.models import Judgment, Study

    study = Study.objects.get(pk=study_id)
    rows = Judgment.objects.filter(
        comparison__study=study, is_repeat=False, comparison__is_gold=False
    ).exclude(rater__in=study.excluded_raters.all())
    if key:
        rows = rows.filter(criterion__key=key)
    fields = sorted({p for params, _ in NAIVE_FACTORS.values() for p in params})
    columns = list(
        zip(
            *rows.values_list(
                "outcome", "winner_id", "comparison__image_a_id", "comparison__image_b_id",
                *(f"comparison__image_{side}__config__{f}" for side in "ab" for f in fields),
            ),
            strict=True,
        )
    )  # fmt: skip
    outcome = np.array(columns[0])
    winner = np.array([w or 0 for w in columns[1]])
    a_won = winner == np.array(columns[2])
    b_won = winner == np.array(columns[3])
    tie = outcome == "tie"
    bad = outcome == "both_bad"
    raw = {(side, f): np.array(columns[4 + s * len(fields) + i], dtype=object)
           for s, side in enumerate("ab") for i, f in enumerate(fields)}  # fmt: skip
    levels: dict[tuple[str, str], np.ndarray] = {}
    for factor, (params, fmt) in NAIVE_FACTORS.items():
        for side in "ab":
            values = [raw[(side, p)] for p in params]
            uniq = sorted({tuple(v) for v in zip(*values, strict=True)})
            lookup = {u: fmt(*u) for u in uniq}
            levels[(side, factor)] = np.array(
                [lookup[u] for u in zip(*values, strict=True)], dtype=object
            )
    differ = {f: levels[("a", f)] != levels[("b", f)] for f in NAIVE_FACTORS}
    table: dict[tuple[str, str], list[float]] = {}
    for factor, d in differ.items():
        if not d.any():
            continue
        for side, won, lost in (("a", a_won, b_won), ("b", b_won, a_won)):
            lv = levels[(side, factor)]
            for level in set(lv[d]):
                m = d & (lv == level)
                row = table.setdefault((factor, level), [0.0] * 4)
                row[0] += float(np.count_nonzero(won & m))
                row[1] += float(np.count_nonzero(lost & m))
                row[2] += float(np.count_nonzero(tie & m))
                row[3] += float(np.count_nonzero(bad & m))
    keys = sorted(table)
    pvals = []
    out: dict[tuple[str, str], tuple[float, ...]] = {}
    for k in keys:
        wins, losses, ties, both_bad = table[k]
        n = wins + losses + ties + both_bad
        pvals.append(analysis.binomial_p(round(wins), round(wins + losses)))
        out[k] = (
            wins,
            losses,
            ties,
            both_bad,
            *analysis.wilson_interval(wins + (ties + both_bad) / 2, n),
        )
    # Holm over contrasts: a factor with two levels in the table is one (its rows mirror).
    per_factor = {f: sum(1 for k in keys if k[0] == f) for f in {k[0] for k in keys}}
    contrast = [k[0] if per_factor[k[0]] == 2 else k for k in keys]
    distinct = list(dict.fromkeys(contrast))
    first_p = {c: p for c, p in reversed(list(zip(contrast, pvals, strict=True)))}
    adjusted = dict(zip(distinct, analysis.holm([first_p[c] for c in distinct]), strict=True))
    for k, c in zip(keys, contrast, strict=True):
        out[k] = (*out[k], float(adjusted[c]))
    return out


def check_baseline(study_id: int, key: str) -> None:
    """The baseline computes the table the dashboard shows: same counts, same intervals."""
    from ratings import reports
    from ratings.models import Study

    study = Study.objects.get(pk=study_id)
    criterion = reports.criterion_for(study=study, key=key)
    real = {
        (r.factor, r.level): (r.wins, r.losses, r.ties, r.both_bad, r.ci_low, r.ci_high, r.p_holm)
        for r in reports.study_win_rates(study=study, criterion=criterion).rows
    }
    naive = naive_win_rates(study_id, key)
    assert set(real) == set(naive), (sorted(real), sorted(naive))
    for k in real:
        assert np.allclose(real[k], naive[k], rtol=1e-9, atol=1e-12), (k, real[k], naive[k])


# --------------------------------------------------------------------------- timing helpers


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each, the order reversed every other round so drift hits all alike."""
    got: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            got[name].append(timed(fns[name]))
    return {name: statistics.median(v) for name, v in got.items()}


def line(
    name: str, value: float, unit: str, baseline: float, ratio: float, digits: int = 3
) -> None:
    print(
        f"{name}: {value:.{digits}f} {unit}  baseline {baseline:.{digits}f}  ratio {ratio:.2f}x",
        flush=True,
    )


# --------------------------------------------------------------------------- export


def stream_export(study_id: int, fmt: str) -> int:
    """The export API's response (GET …/judgments.csv or .jsonl as a researcher), iterated to
    /dev/null as a WSGI server would; returns the rows written."""
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIRequestFactory, force_authenticate

    from ratings.analysis_apis import JudgmentsCsvApi, JudgmentsJsonlApi

    user, _ = get_user_model().objects.get_or_create(
        username="bench-researcher", defaults={"is_staff": True}
    )
    request = APIRequestFactory().get(f"/api/studies/{study_id}/judgments.{fmt}")
    force_authenticate(request, user=user)
    view = (JudgmentsCsvApi if fmt == "csv" else JudgmentsJsonlApi).as_view()
    response = view(request, study_id=study_id)
    assert response.status_code == 200, response.status_code
    n = 0
    with open(os.devnull, "wb") as sink:
        for chunk in response:
            sink.write(chunk)
            n += chunk.count(b"\n")  # chunks hold many lines; no value here holds a newline
    response.close()
    return n - 1 if fmt == "csv" else n  # the CSV header is not a row


def stream_path(study_id: int, fmt: str, *, plain: bool) -> int:
    """The export's chunks (no HttpResponse), written to /dev/null; returns the rows written.

    plain=False is what the export API streams: `judgment_records` handed to csv_lines /
    jsonl_lines, which write each line straight from the rows. plain=True is the project's own
    simple streaming path: the same records iterated as one dict per judgment and written
    with csv.writer / json.dumps, through the same chunking. Both read inside a transaction,
    so the cursor streams rather than loading every row first.
    """
    from django.db import transaction

    from ratings import export
    from ratings.models import Study

    records = export.judgment_records(study=Study.objects.get(pk=study_id))
    source = iter(records) if plain else records
    n = 0
    with transaction.atomic(), open(os.devnull, "wb") as sink:
        lines = export.csv_lines(source) if fmt == "csv" else export.jsonl_lines(source)
        for chunk in export.encoded_chunks(lines):
            sink.write(chunk)
            n += chunk.count(b"\n")  # no value holds a newline (CSV quotes none here)
    return n - 1 if fmt == "csv" else n


def check_export_paths(study_id: int, rows: int) -> None:
    """csv_lines / jsonl_lines write judgment_records' rows directly; the same text as
    writing the records' dicts one by one (compared on the first `rows` lines)."""
    import itertools

    from django.db import transaction

    from ratings import export
    from ratings.models import Study

    records = export.judgment_records(study=Study.objects.get(pk=study_id))
    # In a transaction the cursors stream: the first rows come without reading them all.
    with transaction.atomic():
        for lines in (export.csv_lines, export.jsonl_lines):
            fast, plain = lines(records), lines(iter(records))  # plain: an iterator of dicts
            pairs = itertools.islice(itertools.zip_longest(fast, plain), rows)
            for a, b in pairs:
                assert a == b, (a, b)
            fast.close()
            plain.close()


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for row in status:
            if row.startswith(field + ":"):
                return int(row.split()[1]) / 1024  # kB
    raise LookupError(field)


def child(mode: str, study_id: int) -> None:
    """Run one export in this fresh process and print how far its RSS rose above the start.

    The peak is the kernel's high-water mark (VmHWM), reset just before the export, so the
    imports' own peak does not hide it.
    """
    _environment()
    from ratings.models import Study
    from ratings.reports import study_configs

    study_configs(study=Study.objects.get(pk=study_id))  # imports and a first query done
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS
    before = _status_mb("VmRSS")
    started = time.perf_counter()
    fmt = mode.removeprefix("plain-")
    rows = stream_path(study_id, fmt, plain=mode.startswith("plain-"))
    seconds = time.perf_counter() - started
    peak = _status_mb("VmHWM") - before
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": peak}))


def peak_memory(mode: str, study_id: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--study", str(study_id)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_mb"])


# --------------------------------------------------------------------------- the figures


def bench_dashboard(seeded: Seeded, repeats: int) -> None:
    from django.core.cache import cache

    from ratings import reports
    from ratings.models import Study

    study_id, key = seeded.study_id, seeded.criteria[0]
    check_baseline(study_id, key)
    check_baseline(study_id, "")

    def cold(k: str) -> Callable[[], object]:
        def run() -> object:
            cache.clear()  # the reports, and the study's votes the process holds with them
            return dashboard(study_id, k)

        return run

    def win_cold() -> object:
        cache.clear()
        study = Study.objects.get(pk=study_id)
        return reports.study_win_rates(
            study=study, criterion=reports.criterion_for(study=study, key=key)
        )

    got = interleaved(
        {
            "cold_one": cold(key),
            "base_one": lambda: naive_win_rates(study_id, key),
            "cold_all": cold(""),
            "base_all": lambda: naive_win_rates(study_id, ""),
            "win_cold": win_cold,
        },
        repeats,
    )
    line(
        "dashboard_cold_one_criterion",
        got["cold_one"],
        "s",
        got["base_one"],
        got["base_one"] / got["cold_one"],
    )
    line(
        "dashboard_cold_all_criteria",
        got["cold_all"],
        "s",
        got["base_all"],
        got["base_all"] / got["cold_all"],
    )
    line(
        "win_rate_table_cold",
        got["win_cold"],
        "s",
        got["base_one"],
        got["base_one"] / got["win_cold"],
    )
    cache.clear()
    dashboard(study_id, key)
    dashboard(study_id, "")
    warm = interleaved(
        {"one": lambda: dashboard(study_id, key), "all": lambda: dashboard(study_id, "")},
        repeats * 2 if repeats > 3 else repeats,
    )
    # Baseline: the cold dashboard of the same code, measured above.
    line(
        "dashboard_warm_one_criterion",
        warm["one"],
        "s",
        got["cold_one"],
        got["cold_one"] / warm["one"],
    )
    line(
        "dashboard_warm_all_criteria",
        warm["all"],
        "s",
        got["cold_all"],
        got["cold_all"] / warm["all"],
    )
    breakdown(study_id, key)


def breakdown(study_id: int, key: str) -> None:
    """One cold pass, part by part (a comment line: where the cold seconds go)."""
    from django.core.cache import cache

    from ratings import reports
    from ratings.models import Study
    from ratings.reports.judgments import _version, _votes

    cache.clear()
    study = Study.objects.get(pk=study_id)
    criterion = reports.criterion_for(study=study, key=key)
    parts = {
        "version": lambda: _version(study),
        "read votes": lambda: _votes(study, _version(study)),
        "win_rates": lambda: reports.study_win_rates(study=study, criterion=criterion),
        "leaderboard": lambda: reports.study_leaderboard(study=study, criterion=criterion),
        "factor_effects": lambda: reports.study_factor_effects(study=study, criterion=criterion),
        "raters": lambda: reports.study_raters(study=study),
        "metrics": lambda: reports.study_metric_agreement(study=study, criterion=criterion),
        "configs": lambda: reports.study_configs(study=study),
        "pairs": lambda: reports.study_pair_tallies(study=study, criterion=criterion)[:12],
        "count": lambda: reports.judgment_count(study=study),
    }
    spent = {name: timed(fn) for name, fn in parts.items()}
    print(
        "# cold, one criterion, by part (each report includes a version query): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
    )


def bench_invalidation(seeded: Seeded) -> None:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    from ratings.models import Study
    from ratings.services.judging import judgments_record, presentation_issue

    study_id, key = seeded.study_id, seeded.criteria[0]
    cache.clear()
    before = dashboard(study_id, "")
    warm_s = timed(lambda: dashboard(study_id, ""))
    study = Study.objects.get(pk=study_id)
    voter = get_user_model().objects.create_user(username="bench-voter", password=None)
    study.raters.add(voter)
    shown = presentation_issue(rater=voter, study=study, rng=random.Random(0))
    while shown is not None and shown.comparison.is_gold:  # a gold pair counts for raters only
        shown = presentation_issue(rater=voter, study=study, rng=random.Random(0))
    assert shown is not None
    result = judgments_record(
        rater=voter, presentation_id=shown.pk, response_ms=2100,
        votes={k: ("left" if i == 0 else "tie") for i, k in enumerate(seeded.criteria)},
    )  # fmt: skip
    assert len(result.recorded) == len(seeded.criteria)
    after_s = timed(lambda: dashboard(study_id, ""))
    after = dashboard(study_id, "")
    n = len(seeded.criteria)
    assert after["win"].judgments == before["win"].judgments + n, "win rates served stale"
    assert after["board"].judgments == before["board"].judgments + n, "leaderboard served stale"
    assert (
        sum(r.judgments for r in after["raters"].rows)
        == sum(r.judgments for r in before["raters"].rows) + n
    ), "rater quality served stale"
    assert after["judgments_total"] == before["judgments_total"] + n
    print("cache_invalidated_by_vote: yes", flush=True)
    print(
        f"# all criteria: warm {warm_s:.3f} s; first view after one vote {after_s:.3f} s (recomputed)"
    )
    del key


def bench_export(seeded: Seeded, repeats: int) -> None:
    """The export's fast path against the project's own simple streaming path (same records,
    same chunking, one dict per judgment written by csv.writer / json.dumps): rows/s and peak
    memory. The fast path is kept only because this ratio is well above 1; the two write the
    same text (tests/ratings/test_export.py checks it, and check_export_paths here)."""
    study_id = seeded.study_id
    check_export_paths(study_id, 2_000)
    counted: dict[str, int] = {}

    def run(mode: str) -> Callable[[], object]:
        fmt, plain = mode.removeprefix("plain-"), mode.startswith("plain-")
        return lambda: counted.__setitem__(mode, stream_path(study_id, fmt, plain=plain))

    modes = ["csv", "plain-csv", "jsonl", "plain-jsonl"]
    got = interleaved({mode: run(mode) for mode in modes}, repeats)
    rows = counted["csv"]
    assert len(set(counted.values())) == 1, counted
    for fmt in ("csv", "jsonl"):
        rate, base = rows / got[fmt], rows / got[f"plain-{fmt}"]
        line(f"export_{fmt}", rate, "rows/s", base, rate / base, 0)
    for fmt in ("csv", "jsonl"):
        mb, base = peak_memory(fmt, study_id), peak_memory(f"plain-{fmt}", study_id)
        line(f"export_{fmt}_peak_memory", mb, "MB", base, base / max(mb, 0.1), 1)
    api = rows / timed(lambda: stream_export(study_id, "csv"))
    print(
        f"# {rows} rows exported (first votes and repeats, excluded rater left out); "
        f"through the CSV API view (HttpResponse, one run): {api:.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100k judgments, fewer repeats (< 1 min)"
    )
    parser.add_argument(
        "--judgments", type=int, default=None, help="default 1,000,000 (100,000 with --quick)"
    )
    parser.add_argument(
        "--child", choices=["csv", "jsonl", "plain-csv", "plain-jsonl"], help=argparse.SUPPRESS
    )
    parser.add_argument("--study", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help=argparse.SUPPRESS)  # debugging
    parser.add_argument("--only", choices=["dashboard", "vote", "export"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.study)
        return
    n = args.judgments or (100_000 if args.quick else 1_000_000)
    if not 1_000 <= n <= 20_000_000:
        parser.error("--judgments must be between 1,000 and 20,000,000")
    repeats = 3 if args.quick else 5
    started = time.perf_counter()
    admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    admin(f'CREATE DATABASE "{DB}"')
    try:
        _environment()
        seeded = seed(n, np.random.default_rng(20240601))
        print(
            f"# analysis bench: {seeded.judgments} judgments ({seeded.presentations} presentations, "
            f"{len(seeded.criteria)} criteria) by {seeded.raters} raters on {seeded.comparisons} "
            f"comparisons of {seeded.configs} configs, PostgreSQL; loaded in {seeded.load_s:.1f} s; "
            f"median of {repeats}",
            flush=True,
        )
        if args.only in (None, "dashboard"):
            bench_dashboard(seeded, repeats)
        if args.only in (None, "vote"):
            bench_invalidation(seeded)
        if args.only in (None, "export"):
            bench_export(seeded, 3)  # long runs: three make the median
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    print(f"# total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
