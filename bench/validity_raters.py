"""Validity of the rater-clustered factor effects and of the rater flags, by simulation.

    .venv/bin/python bench/validity_raters.py [--quick]

Simulated studies of known truth go through the project's own analysis functions
(ratings.analysis.factor_effects and ratings.analysis.rater_quality); nothing here refits.

Factor effects. Six configurations (sampler euler_a / ddim / dpmpp × CFG 7 / 9; true effects
ddim −0.5, dpmpp +0.3, CFG 9 +0.4 log-odds, position bias γ 0.15), 10 % ties counted half,
60 votes per rater on pairs and sides drawn at random. Scenarios: raters who share the same
effects ("same"), raters with their own effects (sd 0.4 on each β, sd 0.3 on γ: "rater
effects"), and rater effects plus one strongly side-biased rater among 40 (γ = ±3, either
side equally likely). The truth is the population estimand: what the fit converges to with
every rater of the population (40,000 simulated raters' expected votes; with the biased kind at
1 in 40). Coverage pools the three factor coefficients and γ. Below three raters the intervals are about
these raters' votes: there the truth is the fit to these raters' expected votes on the pairs and
sides they saw (1 and 2 raters, with rater effects; today's intervals are the same there).
Below three raters the intervals are about these raters' votes: there the truth is the fit to these
raters' expected votes on the pairs and sides they saw (1 and 2 raters, with rater effects).
Baseline: today's intervals, β ± 1.96 × the model-based standard error (every vote taken as
independent), from the same fits.

Rater flags. 40 raters judge 112 comparisons (8 configurations with strengths spread evenly
over ±2 logits, each rater's own deviations sd 0.3, side bias N(0.1, 0.2), ties 3–15 %,
"both bad" 2 %), 10 % gold pairs (the right answer 2.5 logits ahead), 10 % swapped repeats,
0–4 % of votes flagged fast; honest raters cast 30–100 votes. Each study also holds one random
clicker (left or right at random, normal speed) with 60 votes and one always-left rater with 30.
Figures: the share of honest raters each flag raises, and how often each bad rater is flagged
(any flag). Baseline: today's rules on the same figures (exact binomial against 50 % for side
bias, a fixed 60 % gold cut from 3 gold votes, flips and agreement against the pooled rate of
the whole panel, the rater included, fast share above 30 %).

Each figure is one line: `<name>: <value> <unit>  baseline <value>  ratio <x>` (ratio =
value / baseline).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ratings.analysis import (  # noqa: E402
    FLAG_TESTS,
    FactorObservation,
    RaterQuality,
    RaterVotes,
    factor_effects,
    rater_quality,
)

# --------------------------------------------------------------------------- factor effects

LEVELS: dict[int, dict[str, str]] = {
    1 + 2 * i + j: {"sampler": s, "cfg": c}
    for i, s in enumerate(("euler_a", "ddim", "dpmpp"))
    for j, c in enumerate(("7", "9"))
}
REFERENCE = {"sampler": "euler_a", "cfg": "7"}
EFFECTS = {("sampler", "ddim"): -0.5, ("sampler", "dpmpp"): 0.3, ("cfg", "9"): 0.4}
GAMMA = 0.15
TIE_RATE = 0.1
VOTES_PER_RATER = 60
_COLUMNS = list(EFFECTS)
_X = {c: np.array([float(LEVELS[c][f] == lv) for f, lv in _COLUMNS]) for c in LEVELS}
_PAIRS = [(a, b) for a in LEVELS for b in LEVELS if a < b]
_DIFF = np.array([_X[a] - _X[b] for a, b in _PAIRS])


@dataclass(frozen=True)
class EffectScenario:
    name: str
    raters: int
    sd_beta: float = 0.0
    sd_gamma: float = 0.0
    side_biased: bool = False


EFFECT_SCENARIOS = [
    EffectScenario("same_g5", 5),
    EffectScenario("same_g10", 10),
    EffectScenario("same_g40", 40),
    EffectScenario("rater_effects_g5", 5, 0.4, 0.3),
    EffectScenario("rater_effects_g10", 10, 0.4, 0.3),
    EffectScenario("rater_effects_g40", 40, 0.4, 0.3),
    EffectScenario("one_side_biased_g40", 40, 0.4, 0.3, True),
]


@dataclass(frozen=True)
class EffectResult:
    coverage: float  # new intervals, factor coefficients and γ pooled
    coverage_baseline: float
    position_coverage: float
    position_coverage_baseline: float
    position_se: float  # median
    position_se_baseline: float
    position_sd: float  # spread of γ̂ across the simulated studies: the SE to aim for


def _rater_parameters(
    rng: np.random.Generator, n: int, s: EffectScenario, *, exact_share: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    beta = np.array([EFFECTS[c] for c in _COLUMNS]) + rng.normal(0, s.sd_beta, (n, len(_COLUMNS)))
    gamma = GAMMA + rng.normal(0, s.sd_gamma, n)
    if s.side_biased:
        if exact_share:  # the population: 1 in 40, half of them each way
            k = n // 40
            gamma[: k // 2] = 3.0
            gamma[k // 2 : k] = -3.0
        else:
            gamma[0] = rng.choice([-3.0, 3.0])
    return beta, gamma


@cache
def effect_truth(scenario: EffectScenario) -> np.ndarray:
    """(γ, β…) the fit converges to over the whole rater population (expected votes)."""
    rng = np.random.default_rng(12345)
    beta, gamma = _rater_parameters(rng, 40_000, scenario, exact_share=True)
    observations = []
    for i, (a, b) in enumerate(_PAIRS):
        for left in (True, False):
            logit = beta @ _DIFF[i] + np.where(left, gamma, -gamma)
            p = (1 - TIE_RATE) / (1 + np.exp(-logit)) + TIE_RATE / 2
            observations.append(
                FactorObservation(a, b, left, float(p.sum()), float((1 - p).sum()), 0)
            )
    fit = factor_effects(LEVELS, observations, reference=REFERENCE, ridge=0.0)
    by = {(c.factor, c.level): c.beta for c in fit.coefficients}
    return np.array([fit.position_bias, *(by[c] for c in _COLUMNS)])


def simulate_effect_study(
    rng: np.random.Generator, scenario: EffectScenario, votes: int = VOTES_PER_RATER
) -> list[FactorObservation]:
    """One study's votes, grouped per rater × pair × side as the dashboard groups them."""
    g = scenario.raters
    beta, gamma = _rater_parameters(rng, g, scenario)
    pair = rng.integers(0, len(_PAIRS), (g, votes))
    left = rng.random((g, votes)) < 0.5
    logit = np.einsum("rvk,rk->rv", _DIFF[pair], beta) + np.where(left, 1, -1) * gamma[:, None]
    tie = rng.random((g, votes)) < TIE_RATE
    a_wins = ~tie & (rng.random((g, votes)) < 1 / (1 + np.exp(-logit)))
    b_wins = ~tie & ~a_wins
    cells = len(_PAIRS) * 2
    key = (np.arange(g)[:, None] * cells + pair * 2 + left).ravel()
    size = g * cells
    counts = [np.bincount(key, weights=m.ravel(), minlength=size) for m in (a_wins, b_wins, tie)]
    seen = np.flatnonzero(np.bincount(key, minlength=size))
    return [
        FactorObservation(
            *_PAIRS[(k % cells) // 2],
            bool(k % 2),
            float(counts[0][k]),
            float(counts[1][k]),
            float(counts[2][k]),
            rater=int(k // cells),
        )
        for k in seen.tolist()
    ]


def simulate_effects_these_raters(scenario: EffectScenario, sims: int, seed: int = 0) -> float:
    """Coverage with too few raters to generalise: the truth is what these raters' own
    expected votes on the pairs and sides they saw give (the page's estimand there)."""
    rng = np.random.default_rng(seed)
    g, votes = scenario.raters, VOTES_PER_RATER
    covered = []
    for _ in range(sims):
        beta, gamma = _rater_parameters(rng, g, scenario)
        pair = rng.integers(0, len(_PAIRS), (g, votes))
        left = rng.random((g, votes)) < 0.5
        logit = np.einsum("rvk,rk->rv", _DIFF[pair], beta) + np.where(left, 1, -1) * gamma[:, None]
        expected = (1 - TIE_RATE) / (1 + np.exp(-logit)) + TIE_RATE / 2
        tie = rng.random((g, votes)) < TIE_RATE
        a_wins = ~tie & (rng.random((g, votes)) < 1 / (1 + np.exp(-logit)))
        observed, truth_rows = [], []
        for r in range(g):
            for v in range(votes):
                a, b = _PAIRS[pair[r, v]]
                won = float(a_wins[r, v])
                observed.append(
                    FactorObservation(a, b, bool(left[r, v]), won, float(~tie[r, v]) - won,
                                      float(tie[r, v]), rater=r)
                )  # fmt: skip
                p = float(expected[r, v])
                truth_rows.append(FactorObservation(a, b, bool(left[r, v]), p, 1 - p, 0.0))
        fit = factor_effects(LEVELS, observed, reference=REFERENCE)
        true = factor_effects(LEVELS, truth_rows, reference=REFERENCE, ridge=0.0)
        t_by = {(c.factor, c.level): c.beta for c in true.coefficients}
        by = {(c.factor, c.level): c for c in fit.coefficients}
        covered.append(fit.position_ci[0] <= true.position_bias <= fit.position_ci[1])
        covered += [by[c].ci_low <= t_by[c] <= by[c].ci_high for c in _COLUMNS]
    return float(np.mean(covered))


def simulate_effects(scenario: EffectScenario, sims: int, seed: int = 0) -> EffectResult:
    rng = np.random.default_rng(seed)
    truth = effect_truth(scenario)
    new, old, se, se_old, gammas = [], [], [], [], []
    for _ in range(sims):
        fit = factor_effects(LEVELS, simulate_effect_study(rng, scenario), reference=REFERENCE)
        by = {(c.factor, c.level): c for c in fit.coefficients}
        est = np.array([fit.position_bias, *(by[c].beta for c in _COLUMNS)])
        low = np.array([fit.position_ci[0], *(by[c].ci_low for c in _COLUMNS)])
        high = np.array([fit.position_ci[1], *(by[c].ci_high for c in _COLUMNS)])
        model = np.array([fit.position_model_se, *(by[c].model_se for c in _COLUMNS)])
        new.append((low <= truth) & (truth <= high))
        old.append(np.abs(est - truth) <= 1.96 * model)
        se.append(fit.position_se)
        se_old.append(fit.position_model_se)
        gammas.append(fit.position_bias)
    n, o = np.array(new), np.array(old)
    return EffectResult(
        coverage=float(n.mean()),
        coverage_baseline=float(o.mean()),
        position_coverage=float(n[:, 0].mean()),
        position_coverage_baseline=float(o[:, 0].mean()),
        position_se=float(np.median(se)),
        position_se_baseline=float(np.median(se_old)),
        position_sd=float(np.std(gammas, ddof=1)),
    )


# --------------------------------------------------------------------------- rater flags

N_CONFIGS = 8
PROMPTS = 4
_FLAG_PAIRS = [(a, b) for a in range(N_CONFIGS) for b in range(N_CONFIGS) if a < b]
N_REGULAR = len(_FLAG_PAIRS) * PROMPTS
N_GOLD = 12
GOLD_RATE = 0.1
REPEAT_RATE = 0.1
CLICKER, ALWAYS_LEFT = 1_000_001, 1_000_002


def simulate_rater(
    rng: np.random.Generator, rater: int, votes: int, kind: str, strength: np.ndarray
) -> RaterVotes:
    """One rater's first votes and repeats. kind: honest, clicker or always_left."""
    n_gold = min(N_GOLD, int(rng.binomial(votes, GOLD_RATE)))
    regular = rng.choice(N_REGULAR, votes - n_gold, replace=False)
    unit = np.concatenate([regular, N_REGULAR + rng.choice(N_GOLD, n_gold, replace=False)])
    pair = np.array(_FLAG_PAIRS)[regular % len(_FLAG_PAIRS)].reshape(-1, 2)
    own = strength + rng.normal(0, 0.3, N_CONFIGS)
    gap = np.concatenate([own[pair[:, 0]] - own[pair[:, 1]], np.full(n_gold, 2.5)])
    gamma = rng.normal(0.1, 0.2)
    tie_rate = rng.uniform(0.03, 0.15)
    fast_rate = rng.uniform(0.0, 0.04)

    def choose(a_left: np.ndarray) -> np.ndarray:
        if kind == "honest":
            u = rng.random(votes)
            a_wins = rng.random(votes) < 1 / (1 + np.exp(-(gap + np.where(a_left, gamma, -gamma))))
            decisive = np.where(a_wins, 0, 1)
            return np.where(u < tie_rate, 2, np.where(u < tie_rate + 0.02, 3, decisive))
        picks_left = rng.random(votes) < 0.5 if kind == "clicker" else np.ones(votes, bool)
        return np.where(picks_left == a_left, 0, 1)

    a_left = rng.random(votes) < 0.5
    choice = choose(a_left)
    repeated = rng.random(votes) < REPEAT_RATE
    again = choose(~a_left)
    gold = np.full(votes, np.nan)
    gold[votes - n_gold :] = (choice[votes - n_gold :] == 0).astype(float)
    return RaterVotes(
        rater=rater,
        unit=unit.astype(np.int64),
        choice=choice.astype(np.int64),
        chose_left=((choice == 0) & a_left) | ((choice == 1) & ~a_left),
        response_ms=np.exp(rng.normal(np.log(2500), 0.4, votes)),
        fast=rng.random(votes) < fast_rate,
        gold_correct=gold,
        repeat_pairs=int(repeated.sum()),
        repeat_flips=int((again[repeated] != choice[repeated]).sum()),
    )


def simulate_flag_study(
    rng: np.random.Generator, raters: int = 40, span: float = 2.0
) -> list[RaterVotes]:
    """Honest raters plus one random clicker (60 votes) and one always-left rater (30)."""
    strength = np.linspace(-span, span, N_CONFIGS)
    out = [
        simulate_rater(rng, r, int(rng.integers(30, 101)), "honest", strength)
        for r in range(raters - 2)
    ]
    out.append(simulate_rater(rng, CLICKER, 60, "clicker", strength))
    out.append(simulate_rater(rng, ALWAYS_LEFT, 30, "always_left", strength))
    return out


def legacy_flags(quality: list[RaterQuality], votes: list[RaterVotes]) -> dict[int, set[str]]:
    """The earlier rules (fixed cut-offs, model-based errors), applied to the same per-rater figures."""
    by = {v.rater: v for v in votes}
    repeats = sum(q.repeats for q in quality)
    flips = sum(by[q.rater].repeat_flips for q in quality)
    agree_n = sum(q.agreement_n for q in quality)
    agreed = sum(round((q.agreement or 0) * q.agreement_n) for q in quality)
    panel_flip = flips / repeats if repeats else None
    panel_agree = agreed / agree_n if agree_n else None
    out: dict[int, set[str]] = {}
    for q in quality:
        flags = set()
        lefts = round((q.left_rate or 0) * q.decisive)
        if q.decisive >= 10 and stats.binomtest(lefts, q.decisive, 0.5).pvalue < 0.01:
            flags.add("side bias")
        if (
            panel_flip is not None
            and 0 < panel_flip < 1
            and q.repeats >= 6
            and stats.binomtest(
                by[q.rater].repeat_flips, q.repeats, panel_flip, alternative="greater"
            ).pvalue
            < 0.01
        ):
            flags.add("inconsistent")
        if q.gold_accuracy is not None and q.gold >= 3 and q.gold_accuracy < 0.6:
            flags.add("fails gold")
        if (
            q.agreement is not None
            and panel_agree is not None
            and 0 < panel_agree < 1
            and q.agreement_n >= 10
            and stats.binomtest(
                round(q.agreement * q.agreement_n), q.agreement_n, panel_agree, alternative="less"
            ).pvalue
            < 0.01
        ):
            flags.add("disagrees with panel")
        if q.judgments and q.fast_share > 0.3:
            flags.add("too fast")
        out[q.rater] = flags
    return out


@dataclass(frozen=True)
class FlagResult:
    honest: dict[str, float]  # share of honest raters each flag raises
    honest_baseline: dict[str, float]
    honest_any: float
    honest_any_baseline: float
    clicker_power: float
    clicker_power_baseline: float
    always_left_power: float
    always_left_power_baseline: float


def simulate_flags(studies: int, seed: int = 0, raters: int = 40, span: float = 2.0) -> FlagResult:
    rng = np.random.default_rng(seed)
    honest: dict[str, list[bool]] = {f: [] for f in FLAG_TESTS}
    honest_old: dict[str, list[bool]] = {f: [] for f in FLAG_TESTS}
    any_new: list[bool] = []
    any_old: list[bool] = []
    power: dict[int, list[bool]] = {CLICKER: [], ALWAYS_LEFT: []}
    power_old: dict[int, list[bool]] = {CLICKER: [], ALWAYS_LEFT: []}
    for _ in range(studies):
        votes = simulate_flag_study(rng, raters, span)
        quality = rater_quality(votes)
        old = legacy_flags(quality, votes)
        for q in quality:
            if q.rater in power:
                power[q.rater].append(bool(q.flags))
                power_old[q.rater].append(bool(old[q.rater]))
                continue
            for f in FLAG_TESTS:
                honest[f].append(f in q.flags)
                honest_old[f].append(f in old[q.rater])
            any_new.append(bool(q.flags))
            any_old.append(bool(old[q.rater]))
    return FlagResult(
        honest={f: float(np.mean(v)) for f, v in honest.items()},
        honest_baseline={f: float(np.mean(v)) for f, v in honest_old.items()},
        honest_any=float(np.mean(any_new)),
        honest_any_baseline=float(np.mean(any_old)),
        clicker_power=float(np.mean(power[CLICKER])),
        clicker_power_baseline=float(np.mean(power_old[CLICKER])),
        always_left_power=float(np.mean(power[ALWAYS_LEFT])),
        always_left_power_baseline=float(np.mean(power_old[ALWAYS_LEFT])),
    )


# --------------------------------------------------------------------------- report


def _line(name: str, value: float, unit: str, baseline: float) -> str:
    ratio = f"{value / baseline:.2f}" if baseline else "inf" if value else "1.00"
    return f"{name}: {value:.4g} {unit}  baseline {baseline:.4g}  ratio {ratio}"


def run(quick: bool) -> list[str]:
    """Every figure of this bench as benchmark lines (quick: fewer simulated studies)."""
    sims = 60 if quick else 500
    lines = []
    for seed, scenario in enumerate(EFFECT_SCENARIOS):
        r = simulate_effects(scenario, sims, seed=seed)
        lines.append(
            _line(f"effect_coverage_{scenario.name}", r.coverage, "share", r.coverage_baseline)
        )
        if scenario.side_biased:
            lines.append(
                _line(
                    f"position_coverage_{scenario.name}",
                    r.position_coverage,
                    "share",
                    r.position_coverage_baseline,
                )
            )
            lines.append(
                _line(
                    f"position_se_{scenario.name}", r.position_se, "logit", r.position_se_baseline
                )
            )
            lines.append(f"# spread of γ̂ across the simulated studies: {r.position_sd:.4f} logit")
    for g in (1, 2):
        # Below FACTOR_MIN_RATERS the intervals are about these raters' votes.
        covered = simulate_effects_these_raters(
            EffectScenario(f"these_g{g}", g, 0.4, 0.3), 60 if quick else 400, seed=20 + g
        )
        lines.append(_line(f"effect_coverage_these_raters_g{g}", covered, "share", covered))
    flags = simulate_flags(50 if quick else 400, seed=7)
    for f in FLAG_TESTS:
        lines.append(
            _line(
                f"honest_flag_rate_{f.replace(' ', '_')}",
                flags.honest[f],
                "share",
                flags.honest_baseline[f],
            )
        )
    lines.append(
        _line("honest_flag_rate_any", flags.honest_any, "share", flags.honest_any_baseline)
    )
    lines.append(
        _line("clicker_power_60", flags.clicker_power, "share", flags.clicker_power_baseline)
    )
    lines.append(
        _line(
            "always_left_power_30",
            flags.always_left_power,
            "share",
            flags.always_left_power_baseline,
        )
    )
    if not quick:
        for name, kwargs in (
            ("close_configs", {"span": 1.5}),
            ("10_raters", {"raters": 10}),
        ):
            hard = simulate_flags(200, seed=11, **kwargs)  # type: ignore[arg-type]
            lines.append(
                _line(
                    f"clicker_power_60_{name}",
                    hard.clicker_power,
                    "share",
                    hard.clicker_power_baseline,
                )
            )
            lines.append(
                _line(
                    f"honest_flag_rate_any_{name}",
                    hard.honest_any,
                    "share",
                    hard.honest_any_baseline,
                )
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated studies")
    args = parser.parse_args()
    started = time.perf_counter()
    for line in run(args.quick):
        print(line, flush=True)
    print(f"# {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
