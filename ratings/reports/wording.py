"""The reports' shared words: percentages, and what a model's intervals are about.

Every sentence here is said the same way on the pages and in the API: the reports carry it,
templates and serializers only show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ratings import analysis


def percent(share: float | None, *, digits: int = 0) -> str:
    """A share as people read it: 0.95 → "95 %", 0.975 with digits=1 → "97.5 %" (trailing zeros
    dropped, so 0.95 with digits=1 is still "95 %"); None → "—"."""
    if share is None:
        return "—"
    if digits < 0:
        raise ValueError(f"digits must be 0 or more, got {digits!r}.")
    text = f"{round(100 * share, digits):.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{'0' if text == '-0' else text} %"


@dataclass(frozen=True)
class IntervalModel:
    """A model whose intervals speak for raters in general only with enough raters."""

    #: Whose intervals, as a possessive: "the leaderboard's".
    owner: str
    min_raters: int
    #: Why that many, in a few words.
    why: str


LEADERBOARD = IntervalModel(
    "the leaderboard's",
    analysis.POPULATION_MIN_RATERS,
    "below that, their variance clustered by rater (CR1) is too unsteady",
)
FACTOR_EFFECTS = IntervalModel(
    "the factor effects'",
    analysis.FACTOR_MIN_RATERS,
    "their variance clustered by rater has the CR2 small-sample correction, which holds "
    "with few raters",
)


def estimand_note(
    model: IntervalModel, *, estimand: str | None, raters: int, df: float | None
) -> str:
    """What `model`'s intervals are about at this number of raters, in one sentence for the
    page and the API ("" without a fit). Each note names its own minimum and why, so two
    models with different minimums on one page do not contradict each other."""
    if estimand is None:
        return ""
    voted = f"{raters} rater{'s' if raters != 1 else ''} voted"
    need = (
        f"{model.owner} intervals speak for raters in general from {model.min_raters} raters "
        f"({model.why})"
    )
    if estimand == analysis.POPULATION:
        spread = f" (t with {df:g} degrees of freedom)" if df is not None else ""
        return (
            f"About raters in general, on these prompts: {voted}, and {need}. The intervals "
            f"allow for each rater's own taste{spread}."
        )
    if estimand == analysis.THESE_RATERS:
        return (
            f"About these raters' votes only, on these prompts: {voted}, and {need}. Add "
            "raters to say how others would judge."
        )
    raise ValueError(f"Unknown estimand {estimand!r}.")


class AboutRaters:
    """For a report whose intervals may speak for raters in general (the leaderboard, the
    factor effects): what they are about, from its `estimand`, `raters` and `df` and the
    class's `interval_model`."""

    interval_model: ClassVar[IntervalModel]
    estimand: str | None
    raters: int
    df: float | None

    @property
    def about_population(self) -> bool:
        return self.estimand == analysis.POPULATION

    @property
    def min_raters(self) -> int:
        return self.interval_model.min_raters

    @property
    def estimand_note(self) -> str:
        """What the intervals are about, in a sentence for the page and the API."""
        return estimand_note(
            self.interval_model, estimand=self.estimand, raters=self.raters, df=self.df
        )
