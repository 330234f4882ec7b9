"""evalsite.fields.user_reference: records that outlive the users they name."""

from __future__ import annotations

import pytest
from django.db import models

from accounts.models import Invite
from accounts.services import invite_accept, invite_create
from ratings.models import AuditEvent, Study
from ratings.services.studies import study_launch
from tests.factories import make_study, researcher

pytestmark = pytest.mark.django_db


def test_user_reference_empties_the_link_and_keeps_the_record_when_the_user_goes() -> None:
    rita = researcher(username="rita")
    study = make_study(created_by=rita)
    study_launch(study=study, actor=rita)
    issued = invite_create(actor=rita)
    newcomer = invite_accept(token=issued.token, username="nina", password="a long passphrase 1")
    rita.delete()
    newcomer.delete()
    invite = Invite.objects.get(pk=issued.invite.pk)
    assert invite.created_by is None and invite.used_by is None and invite.used_at is not None
    assert Study.objects.get(pk=study.pk).created_by is None
    event = AuditEvent.objects.get(study=study, action=AuditEvent.Action.STUDY_LAUNCHED)
    assert event.actor is None and event.detail["first_launch"] is True


@pytest.mark.parametrize(
    ("model", "name", "blank"),
    [
        (Invite, "created_by", False),
        (Invite, "used_by", True),
        (Study, "created_by", True),
        (AuditEvent, "actor", True),
    ],
)
def test_user_reference_fields_are_nullable_without_reverse_accessor(
    model: type[models.Model], name: str, blank: bool
) -> None:
    field = model._meta.get_field(name)
    assert isinstance(field, models.ForeignKey)
    assert field.null and field.blank is blank
    assert field.remote_field.on_delete is models.SET_NULL
    assert field.remote_field.related_name == "+"
