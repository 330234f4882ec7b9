"""A series study's result: each checkpoint's Bradley–Terry strength (the leaderboard's fit
and intervals) against its training step, with the run's loss log beside it."""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from django.http import StreamingHttpResponse
from django.utils.text import slugify

from generation.models import CheckpointSeries
from ratings.export import export_response
from ratings.models import Criterion, Study
from ratings.reports.leaderboard import LeaderboardItem, study_leaderboard


@dataclass(frozen=True)
class SeriesPoint(LeaderboardItem):
    """A checkpoint's leaderboard row, with its training step and the loss at that step."""

    step: int
    #: The run's training loss at this step (None when the log has no row for it).
    loss: float | None


@dataclass(frozen=True)
class SeriesResult:
    series: CheckpointSeries
    criterion: str | None
    #: One point per checkpoint with votes, in step order; empty without votes.
    points: list[SeriesPoint]
    loss: list[tuple[int, float]]
    judgments: int
    raters: int
    estimand_note: str

    @property
    def best(self) -> SeriesPoint | None:
        """The checkpoint ranked first, if its 95 % rank interval is 1–1 (clearly best)."""
        top = [p for p in self.points if p.rank_high == 1]
        return top[0] if top else None

    @property
    def leader(self) -> SeriesPoint | None:
        return min(self.points, key=lambda p: p.rank) if self.points else None


def series_result(*, study: Study, criterion: Criterion | None = None) -> SeriesResult:
    """The study's leaderboard read against training step. Raises ValueError for a study
    that is not over a series."""
    series = study.series
    if series is None:
        raise ValueError(f"Study {study.pk} is not over a checkpoint series.")
    steps = dict(series.checkpoints.values_list("config_id", "step"))
    loss = [(int(step), float(value)) for step, value in series.loss_log]
    loss_at = dict(loss)
    board = study_leaderboard(study=study, criterion=criterion)
    points = sorted(
        (
            SeriesPoint(
                **asdict(row), step=steps[row.config_id], loss=loss_at.get(steps[row.config_id])
            )
            for row in board.rows
            if row.config_id in steps
        ),
        key=lambda p: p.step,
    )
    return SeriesResult(
        series=series,
        criterion=criterion.key if criterion else None,
        points=points,
        loss=loss,
        judgments=board.judgments,
        raters=board.raters,
        estimand_note=board.estimand_note,
    )


#: The CSV export's columns, in order.
CSV_COLUMNS = (
    "step", "config_id", "strength", "ci_low", "ci_high", "rank", "rank_low", "rank_high",
    "judgments", "loss",
)  # fmt: skip


def series_result_rows(result: SeriesResult) -> list[list[str]]:
    """The result as CSV rows (header first): one per checkpoint; loss blank where the log
    has no row at that step."""
    rows = [list(CSV_COLUMNS)]
    for p in result.points:
        rows.append(
            [
                str(p.step), str(p.config_id), f"{p.strength:.6f}", f"{p.ci_low:.6f}",
                f"{p.ci_high:.6f}", str(p.rank), str(p.rank_low), str(p.rank_high),
                f"{p.judgments:g}", "" if p.loss is None else f"{p.loss:.6g}",
            ]
        )  # fmt: skip
    return rows


def series_result_csv(result: SeriesResult) -> str:
    """series_result_rows as CSV text (the page's export and the API's)."""
    out = io.StringIO()
    csv.writer(out).writerows(series_result_rows(result))
    return out.getvalue()


def series_csv_filename(study: Study, result: SeriesResult) -> str:
    """The CSV download's name: study id and name, and the criterion when one was chosen."""
    suffix = f"-{result.criterion}" if result.criterion else ""
    return f"loupe-series-{study.pk}-{slugify(study.name) or 'study'}{suffix}.csv"


def series_csv_response(study: Study, result: SeriesResult) -> StreamingHttpResponse:
    """The result as a CSV download, sent like every other export (the page and the API)."""
    return export_response(
        [series_result_csv(result)], fmt="csv", filename=series_csv_filename(study, result)
    )
