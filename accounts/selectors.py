"""Reads about the team: who rates, on which studies, how far they got."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Count, Max, QuerySet
from django.utils import timezone

from accounts.models import ApiToken, Invite
from accounts.services import ROLE_GROUPS, secret_hash
from evalsite.roles import RATERS
from ratings.models import Presentation, Study
from ratings.selectors import access_by_user


@dataclass(frozen=True)
class StudyShare:
    """One member's part in one study they may judge."""

    study: Study
    judged: int  # pairs this member judged (first showings, not repeats)
    pairs: int  # the study's comparisons: the most one member can judge
    study_judged: int  # pair judgments by everyone
    study_target: int  # comparisons × the study's target judgments per pair

    @property
    def percent(self) -> int:
        return round(100 * self.judged / self.pairs) if self.pairs else 0

    @property
    def study_percent(self) -> int:
        if not self.study_target:
            return 0
        return min(100, round(100 * self.study_judged / self.study_target))


@dataclass(frozen=True)
class TeamMember:
    user: Any
    last_active: datetime | None
    shares: list[StudyShare]
    named_study_ids: frozenset[int]  # studies the member is named on (not through a group)
    groups: list[str]  # rater groups, roles left out


def rater_groups() -> QuerySet[Group]:
    """Groups a researcher may put raters in (the role groups are not among them)."""
    return Group.objects.exclude(name__in=ROLE_GROUPS).order_by("name")


def _study_totals(study_ids: set[int]) -> dict[int, tuple[int, int]]:
    """(pair judgments by everyone, comparisons) per study."""
    answered = dict(
        Presentation.objects.filter(
            comparison__study_id__in=study_ids, answered_at__isnull=False, is_repeat=False
        )
        .values_list("comparison__study_id")
        .annotate(n=Count("id"))
        .values_list("comparison__study_id", "n")
    )
    pairs = dict(
        Study.objects.filter(pk__in=study_ids)
        .annotate(n=Count("comparisons"))
        .values_list("pk", "n")
    )
    return {sid: (answered.get(sid, 0), pairs.get(sid, 0)) for sid in study_ids}


def team_member_get(user_id: int) -> TeamMember | None:
    """The team member (a rater, not staff) with this id; None for anyone else. The team's
    pages and API manage these accounts only (the admin manages the rest)."""
    found = team_members(user_id=user_id)
    return found[0] if found else None


def team_members(*, user_id: int | None = None) -> list[TeamMember]:
    """Raters (active or not) with their studies and progress, by username (`user_id`: that
    one only; an id out of the column's range finds nobody, as any exact lookup).

    Access is the rating rule itself, asked for every member at once
    (ratings.selectors.access_by_user): the queries do not grow with the team.
    """
    User = get_user_model()
    users = (
        User._default_manager.filter(groups__name=RATERS, is_staff=False)
        .annotate(last_answer=Max("presentations__answered_at"))
        .prefetch_related("groups", "rater_studies")
        .order_by("-is_active", "username")
        .distinct()
    )
    if user_id is not None:
        users = users.filter(pk=user_id)
    access = access_by_user(user_ids=[user.pk for user in users])
    study_ids = set().union(*access.values())
    in_order = list(Study.objects.filter(pk__in=study_ids))
    accessible = {uid: [s for s in in_order if s.pk in ids] for uid, ids in access.items()}
    totals = _study_totals(study_ids)
    judged: dict[tuple[int, int], int] = defaultdict(int)
    for rater_id, study_id, n in (
        Presentation.objects.filter(
            rater_id__in=accessible.keys(),
            comparison__study_id__in=study_ids,
            answered_at__isnull=False,
            is_repeat=False,
        )
        .values_list("rater_id", "comparison__study_id")
        .annotate(n=Count("id"))
        .values_list("rater_id", "comparison__study_id", "n")
    ):
        judged[(rater_id, study_id)] = n
    members = []
    for user in users:
        shares = [
            StudyShare(
                study=study,
                judged=judged[(user.pk, study.pk)],
                pairs=totals[study.pk][1],
                study_judged=totals[study.pk][0],
                study_target=totals[study.pk][1] * study.target_judgments,
            )
            for study in accessible[user.pk]
        ]
        times = [t for t in (user.last_login, user.last_answer) if t is not None]
        members.append(
            TeamMember(
                user=user,
                last_active=max(times) if times else None,
                shares=shares,
                named_study_ids=frozenset(s.pk for s in user.rater_studies.all()),
                groups=sorted(g.name for g in user.groups.all() if g.name not in ROLE_GROUPS),
            )
        )
    return members


def invites_pending() -> QuerySet[Invite]:
    """Invites that can still be used, newest first."""
    return Invite.objects.filter(
        used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).prefetch_related("studies", "groups")


def invite_for_token(*, token: str) -> Invite | None:
    """The invite behind a link, usable or not (None when no invite has that token)."""
    if not token or len(token) > 100:
        return None
    return Invite.objects.filter(token_hash=secret_hash(token)).first()


def api_tokens_for(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("revoked_at", "-created_at")


def api_token_for_key(*, key: str) -> ApiToken | None:
    """The active token with this key (and its user), or None."""
    return (
        ApiToken.objects.select_related("user")
        .filter(key_hash=secret_hash(key), revoked_at__isnull=True)
        .first()
    )


def studies_for_assignment() -> QuerySet[Study]:
    return Study.objects.order_by("name")
