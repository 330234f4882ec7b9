"""loupe_bootstrap: demo accounts only for the demo, no password ever reset, and in production
an administrator with a password from the environment or generated and printed once."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from ratings.management.commands.loupe_bootstrap import ACCOUNTS
from ratings.models import Study

pytestmark = pytest.mark.django_db
DEMO_NAMES = [username for username, _, _ in ACCOUNTS]


def _bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("loupe_bootstrap", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def production(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.DEBUG = False
    monkeypatch.delenv("LOUPE_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("LOUPE_ADMIN_USERNAME", raising=False)


def test_handle_makes_no_demo_accounts_in_production(production: None) -> None:
    output = _bootstrap()
    users = get_user_model().objects
    assert not users.filter(username__in=DEMO_NAMES).exists()
    assert not Study.objects.exists()
    for _, password, _ in ACCOUNTS:
        assert password not in output
    # An administrator with a generated password, printed this once.
    admin = users.get()
    assert admin.username == "admin" and admin.is_superuser and admin.is_staff
    match = re.search(r"Password \(shown once, store it now\): (\S+)", output)
    assert match is not None, output
    assert len(match.group(1)) >= 20 and admin.check_password(match.group(1))
    again = _bootstrap()
    assert match.group(1) not in again and "no account was changed" in again
    admin.refresh_from_db()
    assert admin.check_password(match.group(1)) and users.count() == 1


def test_handle_takes_the_admin_password_from_the_environment(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOUPE_ADMIN_USERNAME", "jo")
    monkeypatch.setenv("LOUPE_ADMIN_PASSWORD", "correct horse battery staple")
    output = _bootstrap()
    admin = get_user_model().objects.get(username="jo")
    assert admin.is_superuser and admin.check_password("correct horse battery staple")
    assert "correct horse" not in output and "LOUPE_ADMIN_PASSWORD" in output


def test_handle_never_resets_the_admin_password(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_user_model().objects.create_superuser("boss", "", "the boss's own secret")
    monkeypatch.setenv("LOUPE_ADMIN_PASSWORD", "a brand new password 42")
    _bootstrap()
    boss = get_user_model().objects.get()
    assert boss.check_password("the boss's own secret")


def test_handle_refuses_a_weak_admin_password_and_saves_nothing(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOUPE_ADMIN_PASSWORD", "abc")
    with pytest.raises(CommandError, match="LOUPE_ADMIN_PASSWORD: .*too short"):
        _bootstrap()
    assert not get_user_model().objects.exists()


def test_handle_refuses_an_admin_name_taken_by_a_plain_user(
    production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    get_user_model().objects.create_user("admin", password="someone's own")
    with pytest.raises(CommandError, match="LOUPE_ADMIN_USERNAME"):
        _bootstrap()
    plain = get_user_model().objects.get()
    assert not plain.is_superuser and plain.check_password("someone's own")


def test_handle_creates_demo_accounts_under_debug_and_prints_their_logins(
    settings: Any,
) -> None:
    settings.DEBUG = True
    output = _bootstrap()
    for username, password, _ in ACCOUNTS:
        assert f"login {username} / {password}" in output
        assert get_user_model().objects.get(username=username).check_password(password)
    assert not get_user_model().objects.filter(is_superuser=True).exists()
    # A rerun (make run, every time) still prints the logins.
    again = _bootstrap()
    for username, password, _ in ACCOUNTS:
        assert f"login {username} / {password}" in again


def test_handle_demo_never_resets_an_existing_password(production: None) -> None:
    users = get_user_model().objects
    users.create_user("researcher", password="my own research secret")
    output = _bootstrap("--demo")
    researcher = users.get(username="researcher")
    assert researcher.check_password("my own research secret")
    assert not researcher.is_staff  # nor made staff
    assert "login researcher / " not in output
    assert "login researcher  (researchers; its own password, unchanged)" in output
    assert users.get(username="rater").check_password("loupe-rate")


def test_demo_has_a_checklist_study_on_the_pairwise_demo_images(settings: Any) -> None:
    from ratings.checklists.models import ChecklistImage
    from ratings.management.commands.loupe_bootstrap import CHECKLIST_NAME, STUDY_NAME
    from ratings.selectors import study_images

    settings.DEBUG = True
    output = _bootstrap()
    checklist = Study.objects.get(name=CHECKLIST_NAME)
    assert f"results at /studies/{checklist.pk}/checklist/" in output
    assert checklist.kind == Study.Kind.CHECKLIST and checklist.status == Study.Status.OPEN
    assert list(checklist.checklist_fields.values_list("attribute", flat=True)) == [
        "material", "background", "style",
    ]  # fmt: skip
    pairwise = Study.objects.get(name=STUDY_NAME)
    mine = set(ChecklistImage.objects.filter(study=checklist).values_list("image_id", flat=True))
    assert len(mine) == 3 * 3  # 3 configurations × 3 prompts × 1 seed
    assert mine <= set(study_images(study_id=pairwise.pk).values_list("pk", flat=True))
    _bootstrap()  # a rerun makes nothing twice
    assert Study.objects.filter(kind=Study.Kind.CHECKLIST).count() == 1
    assert ChecklistImage.objects.filter(study=checklist).count() == 9
