"""REST API for the team: raters with their studies and progress, and invites."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import INVITE_NOTE_MAX, Invite
from accounts.selectors import (
    TeamMember,
    invites_pending,
    rater_groups,
    team_member_get,
    team_members,
)
from accounts.services import (
    INVITE_MAX_DAYS,
    invite_create,
    invite_revoke,
    team_member_assign,
    team_member_set_active,
)
from evalsite.api_errors import validated
from ratings.models import Study


class StudyShareSerializer(serializers.Serializer[Any]):
    study = serializers.IntegerField(source="study.pk")
    name = serializers.CharField(source="study.name")
    status = serializers.CharField(source="study.status")
    judged = serializers.IntegerField(help_text="Pairs this rater judged.")
    pairs = serializers.IntegerField(help_text="The study's pairs (the most one rater can judge).")
    study_judged = serializers.IntegerField(help_text="Pair judgments by everyone.")
    study_target = serializers.IntegerField(help_text="Pairs × target judgments per pair.")


class TeamMemberSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="user.pk")
    username = serializers.CharField(source="user.username")
    is_active = serializers.BooleanField(source="user.is_active")
    last_active = serializers.DateTimeField(allow_null=True)
    groups = serializers.ListField(child=serializers.CharField())
    studies = StudyShareSerializer(source="shares", many=True)


class InviteSerializer(serializers.ModelSerializer[Invite]):
    class Meta:
        model = Invite
        fields = ["id", "role", "studies", "groups", "note", "created_at", "expires_at"]


class InviteCreateSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=Invite.Role.choices, default=Invite.Role.RATER)
    studies = serializers.PrimaryKeyRelatedField(
        queryset=Study.objects.all(), many=True, required=False
    )
    groups = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), many=True, required=False
    )
    days = serializers.IntegerField(min_value=1, max_value=INVITE_MAX_DAYS, required=False)
    note = serializers.CharField(max_length=INVITE_NOTE_MAX, required=False, allow_blank=True)


class InviteIssuedSerializer(InviteSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; only its hash is kept.")
    url = serializers.CharField(read_only=True, help_text="The link to send to the invitee.")

    class Meta(InviteSerializer.Meta):
        fields = [*InviteSerializer.Meta.fields, "token", "url"]


class TeamRatersApi(APIView):
    @extend_schema(responses=TeamMemberSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TeamMemberSerializer(team_members(), many=True).data)


class TeamRaterUpdateSerializer(serializers.Serializer[Any]):
    is_active = serializers.BooleanField(required=False)
    studies = serializers.PrimaryKeyRelatedField(
        queryset=Study.objects.all(), many=True, required=False, help_text="Studies named on."
    )
    groups = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), many=True, required=False, help_text="Rater groups."
    )


class TeamRaterDetailApi(APIView):
    def _member(self, user_id: int) -> TeamMember:
        member = team_member_get(user_id)
        if member is None:
            raise NotFound("No rater with that id.")
        return member

    @extend_schema(responses=TeamMemberSerializer)
    def get(self, request: Request, user_id: int) -> Response:
        return Response(TeamMemberSerializer(self._member(user_id)).data)

    @extend_schema(request=TeamRaterUpdateSerializer, responses=TeamMemberSerializer)
    def patch(self, request: Request, user_id: int) -> Response:
        member = self._member(user_id)
        data = validated(TeamRaterUpdateSerializer, request.data)
        with transaction.atomic():
            if "studies" in data or "groups" in data:
                named = member.user.rater_studies.all()
                current_groups = member.user.groups.filter(pk__in=rater_groups())
                team_member_assign(
                    actor=request.user,
                    member=member.user,
                    studies=data.get("studies", list(named)),
                    groups=data.get("groups", list(current_groups)),
                )
            if "is_active" in data:
                team_member_set_active(
                    actor=request.user, member=member.user, active=data["is_active"]
                )
        return Response(TeamMemberSerializer(self._member(user_id)).data)


class TeamInvitesApi(APIView):
    @extend_schema(responses=InviteSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(InviteSerializer(invites_pending(), many=True).data)

    @extend_schema(request=InviteCreateSerializer, responses={201: InviteIssuedSerializer})
    def post(self, request: Request) -> Response:
        data = validated(InviteCreateSerializer, request.data)
        issued = invite_create(
            actor=request.user,
            role=data["role"],
            studies=data.get("studies", []),
            groups=data.get("groups", []),
            days=data.get("days"),
            note=data.get("note", ""),
        )
        body = dict(InviteSerializer(issued.invite).data)
        body["token"] = issued.token
        body["url"] = request.build_absolute_uri(reverse("invite-accept", args=[issued.token]))
        return Response(body, status=status.HTTP_201_CREATED)


class TeamInviteDetailApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request, invite_id: int) -> Response:
        invite_revoke(invite=get_object_or_404(Invite, pk=invite_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
