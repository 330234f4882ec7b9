"""Validity benchmark: simulated studies with known truth run through the project's own code.

    .venv/bin/python bench/validity.py [--quick]

Figures (one line each, `<name>: <value> <unit>  baseline <value>  ratio <x>`):
- coverage_<truth>_R<raters>_P<prompts>: share of 95 % leaderboard intervals covering the
  estimand (ratings.analysis.bt_leaderboard on bench/simstudy.py studies: 6 configurations,
  2 seeds per prompt, every rater judges every comparison once). Truth "shared": raters and
  prompts share the strengths; "deviations": each rater and each prompt adds N(0, 0.4²) per
  configuration. The estimand is the leaderboard's own (these raters' votes below 10 raters,
  the population of raters from 10), see ratings/analysis/strengths.py. Baseline: the former
  bootstrap intervals against the configurations' strengths. Bound: 0.90–0.98.
- p_best_calibration: among (study, configuration) with P(best) ≥ 0.9, the share truly best.
- votes_to_decision: median votes until the true best configuration reaches P(best) ≥ 0.9
  (12 configurations, 4 prompts × 2 seeds = 528 comparisons, 30 raters arriving at random,
  strengths N(0, 0.5²), the same truths in both arms), adaptive (ratings.pairs.choose_candidate
  with top_two_weights from the leaderboard's fit) against uniform pairing (the same function
  without weights).
- top3_share_third<k>: votes on pairs among the current top three in each third of an
  adaptive study, against what uniform pairing would put there.
- over_target_picks: picks above the study's target while a same-kind comparison the rater
  could judge was below it.
Then the figures of bench/validity_raters.py and bench/validity_stopping.py when present.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalsite.test_settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import simstudy  # noqa: E402

RATERS = (1, 2, 3, 5, 10, 40)
PROMPTS = (1, 4)
TRUTHS = {"shared": 0.0, "deviations": 0.4}
LOW, HIGH = 0.90, 0.98


def line(name: str, value: float, unit: str, baseline: float | str, ratio: float | str) -> str:
    def fmt(x: float | str) -> str:
        return x if isinstance(x, str) else f"{x:.3g}"

    return f"{name}: {fmt(value)} {unit}  baseline {fmt(baseline)}  ratio {fmt(ratio)}"


def coverage(
    quick: bool, seed: int = 12, studies: int | None = None, old_studies: int | None = None
) -> tuple[list[str], list[str]]:
    studies = studies or (60 if quick else 400)
    old_studies = old_studies or (15 if quick else 100)
    rng = np.random.default_rng(seed)
    lines, table, p_best, best = [], [], [], []
    table.append(
        f"{'truth':<11}{'R':>4}{'P':>3}  {'estimand':<13}{'coverage':>9}{'width':>8}"
        f"{'zero-w':>8}{'old':>8}  in band"
    )
    for truth, sd in TRUTHS.items():
        for prompts in PROMPTS:
            for raters in RATERS:
                res = simstudy.leaderboard_coverage(
                    rng,
                    studies=studies,
                    n_configs=6,
                    n_raters=raters,
                    n_prompts=prompts,
                    dev_sd=sd,
                )
                old = simstudy.old_bootstrap_coverage(
                    rng,
                    studies=old_studies,
                    n_configs=6,
                    n_raters=raters,
                    n_prompts=prompts,
                    dev_sd=sd,
                )
                p_best.append(res.p_best)
                best.append(res.truly_best)
                ok = "yes" if LOW <= res.coverage <= HIGH else "NO"
                table.append(
                    f"{truth:<11}{raters:>4}{prompts:>3}  {res.estimand:<13}{res.coverage:>9.3f}"
                    f"{res.mean_width:>8.2f}{res.zero_width:>8.3f}{old:>8.3f}  {ok}"
                )
                lines.append(
                    line(
                        f"coverage_{truth}_R{raters}_P{prompts}",
                        res.coverage,
                        "share",
                        old,
                        res.coverage / old if old else "inf",
                    )
                )
    pb, tb = np.concatenate(p_best), np.concatenate(best)
    sure = pb >= 0.9
    cal = float(tb[sure].mean()) if sure.any() else float("nan")
    lines.append(
        line("p_best_calibration", cal, f"share truly best (n={int(sure.sum())})", 0.9, cal / 0.9)
    )
    return lines, table


def selection(
    quick: bool, seed: int = 34, studies: int | None = None, arms: tuple[str, ...] = ()
) -> list[str]:
    studies = studies or (12 if quick else 200)
    max_votes = 4000
    lines: list[str] = []
    runs: dict[str, list[simstudy.SelectionRun]] = {
        arm: [] for arm in arms or ("adaptive", "uniform")
    }
    for arm in runs:
        truths = np.random.default_rng(seed)  # the same truths for both arms
        rng = np.random.default_rng(seed + 1000)
        for _ in range(studies):
            truth = simstudy.make_truth(truths, n_configs=12, n_raters=30, n_prompts=4, spread=0.5)
            runs[arm].append(
                simstudy.selection_study(
                    rng, truth, adaptive=arm == "adaptive", max_votes=max_votes
                )
            )
            done = len(runs[arm])
            if not quick and done % 20 == 0:
                so_far = np.median([r.votes_to_decision or max_votes for r in runs[arm]])
                print(f"# {arm}: {done} studies, median so far {so_far:.0f}", flush=True)
                decided = [r.votes_to_decision or max_votes for r in runs[arm]]
                print(f"# {arm} votes: {decided}", flush=True)
    if len(runs) < 2:
        return []
    med = {
        arm: float(np.median([r.votes_to_decision or max_votes for r in rs]))
        for arm, rs in runs.items()
    }
    capped = {arm: sum(r.votes_to_decision is None for r in rs) for arm, rs in runs.items()}
    lines.append(
        line(
            "votes_to_decision_adaptive",
            med["adaptive"],
            f"votes (median of {studies}; not decided by {max_votes}: {capped['adaptive']} "
            f"adaptive, {capped['uniform']} uniform)",
            med["uniform"],
            med["uniform"] / med["adaptive"],
        )
    )
    for arm, rs in runs.items():
        first = [r.first_decision_right for r in rs if r.first_decision_right is not None]
        lines.append(
            line(
                f"first_to_p_best_0.9_is_best_{arm}",
                float(np.mean(first)) if first else float("nan"),
                f"share (n={len(first)}; looked at every 10 votes, no correction for looking)",
                0.9,
                float(np.mean(first)) / 0.9 if first else "nan",
            )
        )
    # The share of pairs among the top three per third, over whole adaptive studies (no stop).
    rng = np.random.default_rng(seed + 1)
    long_runs = []
    for _ in range(4 if quick else 10):
        truth = simstudy.make_truth(rng, n_configs=12, n_raters=30, n_prompts=4, spread=0.5)
        long_runs.append(
            simstudy.selection_study(
                rng, truth, adaptive=True, max_votes=2700, stop_at_decision=False
            )
        )
    for third in range(3):
        got = sum(r.top3_votes[third] for r in long_runs)
        uniform = sum(r.top3_uniform[third] for r in long_runs)
        votes = sum(r.thirds_votes[third] for r in long_runs)
        lines.append(
            line(
                f"top3_votes_third{third + 1}",
                got,
                f"votes of {votes} on pairs among the current top three",
                uniform,
                got / uniform if uniform else "inf",
            )
        )
    pooled = [(p, r.true_best) for r in long_runs for p in r.checks_p_best if p.max() >= 0.9]
    right = float(np.mean([int(np.argmax(p)) == b for p, b in pooled])) if pooled else 0.0
    lines.append(
        line(
            "p_best_calibration_adaptive",
            right,
            f"share truly best at checks with P(best) ≥ 0.9 (n={len(pooled)}, whole studies)",
            0.9,
            right / 0.9,
        )
    )
    over = sum(r.over_target for r in long_runs)
    over_u = sum(r.over_target for r in runs["uniform"])
    lines.append(
        line(
            "over_target_picks",
            over + over_u,
            f"picks above target 5 while a same-kind comparison was below "
            f"({len(long_runs)} adaptive + {studies} uniform studies)",
            0,
            "n/a",
        )
    )
    return lines


def old_adaptive(quick: bool, seed: int = 34) -> list[str]:
    """The former adaptive rule (own fit, 80 % on interval-overlap contenders) as baseline."""
    studies = 6 if quick else 30
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(studies):
        truth = simstudy.make_truth(rng, n_configs=12, n_raters=30, n_prompts=4, spread=0.5)
        runs.append(
            simstudy.selection_study(rng, truth, adaptive=True, max_votes=4000, old_contenders=True)
        )
    med = float(np.median([r.votes_to_decision or 4000 for r in runs]))
    return [
        line("votes_to_decision_old_adaptive", med, f"votes (median of {studies})", "n/a", "n/a")
    ]


def helpers(quick: bool) -> list[str]:
    lines = []
    for name in ("validity_raters", "validity_stopping"):
        try:
            module = __import__(name)
        except ImportError:
            lines.append(f"# {name}: not present")
            continue
        lines.extend(module.run(quick))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated studies")
    parser.add_argument(
        "--only", choices=("coverage", "selection", "helpers"), help="run one part only"
    )
    parser.add_argument("--studies", type=int, help="simulated studies per scenario or arm")
    parser.add_argument("--old-studies", type=int, help="studies for the old bootstrap")
    parser.add_argument(
        "--arm", choices=("adaptive", "uniform"), help="with --only selection: one arm"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    if args.only in (None, "coverage"):
        lines, table = coverage(args.quick, studies=args.studies, old_studies=args.old_studies)
        print("\n".join(table), flush=True)
        print("\n".join(lines), flush=True)
    if args.only in (None, "selection"):
        arms = (args.arm,) if args.arm else ()
        old = [] if args.arm else old_adaptive(args.quick)
        for text in selection(args.quick, studies=args.studies, arms=arms) + old:
            print(text, flush=True)
    if args.only in (None, "helpers"):
        for text in helpers(args.quick):
            print(text, flush=True)
    print(f"# total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
