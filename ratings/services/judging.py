"""Writes for raters: presentations (what the server showed), votes, skip and undo."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ratings.models import Judgment, Presentation, Study
from ratings.pairs import Candidate, Shown, next_plan
from ratings.progress import RaterProgress, progress_of, rater_progress
from ratings.rater_sql import (
    Card,
    cards,
    criteria_of,
    deal_state,
    pair_presented,
    presentation_for_vote,
)
from ratings.rater_writes import insert_new, judgments_insert, presentation_stamp
from ratings.selectors import rater_may_judge

SIDES = ("left", "right", "tie", "both_bad")
DEFECT_TAGS: dict[str, str] = {
    "stones": "Stone count",
    "prongs": "Prongs / setting",
    "chain": "Chain continuity",
    "metal": "Metal colour",
    "symmetry": "Symmetry",
    "artefacts": "Artefacts",
}
# The browser offers undo for a few seconds; the server allows a little more for slow links.
UNDO_SECONDS = 20
ISSUE_ATTEMPTS = 3


class NotYours(Exception):
    """The presentation does not exist or was issued to someone else."""


_CARD_RELATED = ("comparison__prompt", "comparison__image_a", "comparison__image_b")


@dataclass(frozen=True)
class Deck:
    """The pair on screen and the one whose images load behind it, and the rater's progress."""

    current: Card | None
    upcoming: Card | None
    # Read in the same work as the deal (no query of its own).
    progress: RaterProgress
    closed: bool = False

    @property
    def state(self) -> str:
        return screen_state(card=self.current, closed=self.closed, ready=self.progress.ready)


def screen_state(*, card: object | None, closed: bool, ready: int) -> str:
    """Which screen a rating page shows, for the pages and the rater APIs alike (pairwise and
    checklist): "card" (something to judge), "closed" (nothing new), "preparing" (nothing
    rendered yet) or "done" (nothing left for now)."""
    if card is not None:
        return "card"
    if closed:
        return "closed"
    return "done" if ready else "preparing"


#: Why there is nothing to judge, by screen_state: the rater APIs' `detail`.
NO_CARD = {
    "closed": "This study has closed: nothing new to judge. Answers to what you were already "
    "shown are still recorded.",
    "preparing": "The images are still being prepared: ask again in a few seconds.",
    "done": "Nothing left to judge in this study. Thank you!",
}


def rater_next(*, rater: User, study: Study) -> Deck:
    """What the rater gets now: the deal (deck_deal), or, once the study has closed, no new
    pair and their progress."""
    if study.answers_only:
        progress = rater_progress(study=study, rater=rater)
        return Deck(current=None, upcoming=None, progress=progress, closed=True)
    return deck_deal(rater=rater, study=study)


def _issue(
    *,
    rater: User,
    study: Study,
    rng: random.Random,
    count: int = 1,
    shown: list[Shown] | None = None,
    pairs: list[Candidate] | None = None,
) -> tuple[list[Shown], list[Shown], list[Candidate]]:
    """Choose up to `count` next pairs and insert their presentations, sides drawn at random.

    Returns the new presentations (fewer when nothing more is left) and the rater's
    presentations and the study's pairs as read for the choice, the new ones included, so the
    caller needs no second look. Safe to run concurrently: the database allows one first
    presentation (and one repeat) per rater and pair, so two tabs racing for the same pair make
    one; the other reads again (the winner has committed by then) and chooses anew.
    """
    made: list[Shown] = []
    for _ in range(ISSUE_ATTEMPTS):
        if shown is None or pairs is None:
            shown, pairs = deal_state(study=study, rater=rater)
        planned: list[Shown] = []
        while len(made) + len(planned) < count:
            plan = next_plan(study=study, rater=rater, rng=rng, shown=shown + planned, pairs=pairs)
            if plan is None:
                break
            left_id = plan.left_image_id or rng.choice(plan.images)
            planned.append(
                Shown(0, plan.comparison_id, plan.is_repeat, left_id, False, False, *plan.images)
            )
        # Each insert bumps its pair's exposure count (a row lock until commit): inserting in
        # comparison order means two deals never wait on each other in a circle.
        raced = False
        for row in sorted(planned, key=lambda r: r.comparison_id):
            inserted = insert_new(
                [
                    Presentation(
                        comparison_id=row.comparison_id,
                        rater=rater,
                        is_repeat=row.is_repeat,
                        left_id=row.left_id,
                    )
                ],
                key="comparison_id",
            )
            if not inserted:  # another tab made this one first
                raced = True
                break
            if not row.is_repeat:
                pair_presented(study_id=study.pk, comparison_id=row.comparison_id)
            made.append(row._replace(presentation_id=inserted[0].pk))
            shown = [*shown, made[-1]]
        if raced:
            shown = pairs = None
            continue
        return made, shown, pairs
    # Lost every race (two tabs): what is there is read afresh.
    return made, *deal_state(study=study, rater=rater)


def presentation_issue(
    *, rater: User, study: Study, rng: random.Random | None = None
) -> Presentation | None:
    """Choose the next pair and record the presentation, sides drawn at random.

    Safe to run concurrently: the database allows one first presentation (and one repeat) per
    rater and pair, so two tabs racing for the same pair make one and retry the other.
    """
    made, _, _ = _issue(rater=rater, study=study, rng=rng or random.Random())
    if not made:
        return None
    return Presentation.objects.select_related(*_CARD_RELATED).get(pk=made[0].presentation_id)


def deck_deal(*, rater: User, study: Study, rng: random.Random | None = None) -> Deck:
    """The rater's oldest unanswered presentation (or a new one) plus the next, prefetched.

    Safe to run twice: unanswered presentations are shown again, not replaced, so reloading
    the page never burns a pair. The current one's shown_at restarts: response time counts
    from the moment it is on screen, not from when it was prefetched.

    One read of the study's pairs with the rater's presentations of them serves the choice of
    new pairs and the progress bar alike; one more read fetches both cards.
    """
    rng = rng or random.Random()
    shown, pairs = deal_state(study=study, rater=rater)
    pending = [row.presentation_id for row in shown if row.pending][:2]
    if len(pending) < 2:
        made, shown, pairs = _issue(
            rater=rater, study=study, rng=rng, count=2 - len(pending), shown=shown, pairs=pairs
        )
        pending += [row.presentation_id for row in made]
    now = timezone.now()
    dealt = cards(pending, on_screen_at=now)
    current = replace(dealt[pending[0]], shown_at=now) if pending else None
    return Deck(
        current=current,
        upcoming=dealt[pending[1]] if len(pending) > 1 else None,
        progress=progress_of(study=study, shown=shown, pairs=pairs),
    )


#: What a rater is told when an answer was recorded before (a resend, a second tab).
ALREADY_RECORDED = "Already recorded: your first answer stands."


@dataclass(frozen=True)
class VoteResult:
    presentation: Presentation
    recorded: list[Judgment]
    already: list[str]  # criterion keys that had a judgment already: nothing was changed

    @property
    def already_recorded(self) -> bool:
        return not self.recorded and bool(self.already)


def _check_access(*, rater: User, study: Study, closed_ok: bool = False) -> None:
    if study.status not in Study.rater_statuses(closed_too=closed_ok):
        raise ValidationError("This study is closed to votes.", code="closed")
    if not rater_may_judge(user=rater, study_id=study.pk, closed_too=closed_ok):
        raise NotYours


def _own(*, rater: User, presentation_id: int, lock: bool) -> Presentation:
    rows = Presentation.objects.select_related("comparison__study")
    if lock:
        rows = rows.select_for_update(of=("self",))
    try:
        return rows.get(pk=presentation_id, rater=rater)
    except (Presentation.DoesNotExist, ValueError, TypeError):
        raise NotYours from None


def _tags(raw: Iterable[str], *, presentation: Presentation) -> list[str]:
    """Rater tags say left:/right:; storage says a:/b: (the comparison's images)."""
    left_is_a = presentation.left_id == presentation.comparison.image_a_id
    stored = []
    for tag in raw:
        side, _, name = tag.partition(":")
        if side not in ("left", "right") or name not in DEFECT_TAGS:
            raise ValidationError(
                {
                    "tags": f"Unknown tag {tag!r}: use left:<tag> or right:<tag> with a tag from "
                    f"{', '.join(DEFECT_TAGS)}."
                }
            )
        stored.append(f"{'a' if (side == 'left') == left_is_a else 'b'}:{name}")
    return sorted(set(stored))


def judgments_record(
    *,
    rater: User,
    presentation_id: int,
    votes: Mapping[str, str],
    tags: Iterable[str] = (),
    response_ms: int | None = None,
    study: Study | None = None,
) -> VoteResult:
    """Record the rater's answers (criterion key → left/right/tie/both_bad) for a presentation.

    Safe to run twice: a criterion that already has this rater's judgment is left as it was
    and reported in `already` (double clicks, two tabs, retries). Response time is measured by
    the server from the moment the card was shown; a browser-reported time may only lower it
    (it excludes network time). Either below the study's minimum flags the vote, which is kept.
    Pairs are issued only while a study is open, so a vote on one is recorded even if the
    study closed meanwhile (the rater had the pair on screen); nothing new is issued then.
    `study`: pass it when the caller has already checked the rater may judge it (the rating
    page does); the presentation must then belong to it.
    Raises NotYours for a presentation not issued to this rater, ValidationError for bad input.
    """
    if not votes:
        raise ValidationError({"outcome": "Answer at least one question."})
    if response_ms is not None and response_ms < 0:
        raise ValidationError({"response_ms": "Response time cannot be negative."})
    now = timezone.now()
    # Inside a caller's transaction (the rating page: vote and next deal commit together) this
    # joins it without a savepoint: every error here is raised before the first write.
    joined = transaction.get_connection().in_atomic_block
    with nullcontext() if joined else transaction.atomic():
        # The row lock orders concurrent submits of one presentation (PostgreSQL); the unique
        # constraint on judgments is the last word wherever locks are not available.
        shown = presentation_for_vote(rater=rater, presentation_id=presentation_id)
        if shown is None:
            raise NotYours
        if study is None:
            study = Study.objects.get(pk=shown.comparison.study_id)
            _check_access(rater=rater, study=study, closed_ok=True)
        elif shown.comparison.study_id != study.pk:
            raise NotYours
        elif study.status not in Study.rater_statuses(closed_too=True):
            raise ValidationError("This study is closed to votes.", code="closed")
        if shown.skipped_at is not None:
            raise ValidationError("You skipped this pair; it cannot be judged now.", code="skipped")
        criteria = {c.key: c for c in criteria_of(study)}
        errors = {}
        for key, side in votes.items():
            if key not in criteria:
                errors[key] = f"Unknown criterion {key!r} for this study."
            elif side not in SIDES:
                errors[key] = f"Answer with one of {', '.join(SIDES)} (got {side!r})."
        if errors:
            raise ValidationError(errors)
        stored_tags = _tags(tags, presentation=shown)
        elapsed = max(int((now - shown.shown_at).total_seconds() * 1000), 0)
        took = min(elapsed, response_ms) if response_ms is not None else elapsed
        comparison = shown.comparison
        right_id = (
            comparison.image_b_id
            if shown.left_id == comparison.image_a_id
            else comparison.image_a_id
        )

        def judgment(key: str) -> Judgment:
            side = votes[key]
            return Judgment(
                presentation=shown,
                comparison=comparison,
                rater=rater,
                criterion=criteria[key],
                outcome=Judgment.Outcome.WIN if side in ("left", "right") else side,
                winner_id={"left": shown.left_id, "right": right_id}.get(side),
                is_repeat=shown.is_repeat,
                tags=stored_tags,
                response_ms=took,
                flagged_fast=took < study.min_response_ms,
            )

        # Insert straight away and let the constraint skip what is there already (a repeat
        # submit), rather than look first on every vote. A first answer to every criterion
        # (the rating page's vote) marks the presentation answered in the same statement.
        complete = shown.answered_at is None and set(votes) >= set(criteria)
        new = judgments_insert(
            [judgment(key) for key in votes], answered_at=now if complete else None
        )
        done: set[str] = set()
        if len(new) < len(votes):
            done = {key for key in votes if key not in {j.criterion.key for j in new}}
        elif complete:
            shown.answered_at = now
        if new and shown.answered_at is None:
            answered = done | {j.criterion.key for j in new}
            if not answered >= set(criteria):
                # Answers may arrive one criterion at a time (the API): count the earlier ones.
                answered |= set(
                    Judgment.objects.filter(presentation=shown).values_list(
                        "criterion__key", flat=True
                    )
                )
            if answered >= set(criteria):
                shown.answered_at = now
                presentation_stamp(presentation_id=shown.pk, field="answered_at", at=now)
    return VoteResult(
        presentation=shown, recorded=new, already=sorted(k for k in votes if k in done)
    )


def presentation_skip(*, rater: User, presentation_id: int) -> Presentation:
    """Set a pair aside without judging it; it will not come back. Safe to run twice."""
    with transaction.atomic():
        shown = _own(rater=rater, presentation_id=presentation_id, lock=True)
        _check_access(rater=rater, study=shown.comparison.study)
        if shown.answered_at is not None:
            raise ValidationError("This pair is already judged.", code="answered")
        if Judgment.objects.filter(presentation=shown).exists():
            raise ValidationError("This pair is partly judged: finish it instead.", code="partial")
        if shown.skipped_at is None:
            shown.skipped_at = timezone.now()
            shown.save(update_fields=["skipped_at"])
    return shown


def presentation_undo(*, rater: User, presentation_id: int) -> Presentation:
    """Take back the rater's last answer within UNDO_SECONDS; the pair comes back on screen.

    Safe to run twice: the second call finds nothing to undo and says so.
    """
    with transaction.atomic():
        shown = _own(rater=rater, presentation_id=presentation_id, lock=True)
        study = shown.comparison.study
        _check_access(rater=rater, study=study)
        if shown.answered_at is None:
            raise ValidationError("There is no answer to undo for this pair.", code="nothing")
        if timezone.now() - shown.answered_at > timedelta(seconds=UNDO_SECONDS):
            raise ValidationError("Too late to undo that vote.", code="late")
        latest = (
            Presentation.objects.filter(rater=rater, comparison__study=study)
            .exclude(answered_at=None)
            .order_by("-answered_at", "-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if latest != shown.pk:
            raise ValidationError("Only the last vote can be undone.", code="not_last")
        Judgment.objects.filter(presentation=shown).delete()
        shown.answered_at = None
        shown.shown_at = timezone.now()
        shown.save(update_fields=["answered_at", "shown_at"])
    return shown
