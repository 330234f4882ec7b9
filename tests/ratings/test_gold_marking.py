"""A study that wants gold pairs but has none says so, and gold is marked in the pair browser."""

from __future__ import annotations

import pytest
from django.test import Client

from ratings.models import Comparison
from tests.factories import make_study, researcher

pytestmark = pytest.mark.django_db


def test_launch_says_when_the_gold_rate_has_no_gold_pairs(client: Client) -> None:
    study = make_study(n_configs=3, gold_rate=0.1)  # samplers differ: no obvious answer
    client.force_login(researcher())
    page = client.post(f"/studies/{study.pk}/launch/", follow=True).content.decode()
    assert Comparison.objects.filter(study=study).count() == 3
    assert "The gold rate is 10% but no pair is gold" in page
    detail = client.get(f"/studies/{study.pk}/").content.decode()
    assert 'id="gold-missing"' in detail


def test_launch_without_gold_rate_says_nothing_of_gold(client: Client) -> None:
    study = make_study(n_configs=3, gold_rate=0.0)
    client.force_login(researcher())
    page = client.post(f"/studies/{study.pk}/launch/", follow=True).content.decode()
    assert "no pair is gold" not in page


def test_pair_browser_marks_and_unmarks_gold_pairs(client: Client) -> None:
    study = make_study(n_configs=3, gold_rate=0.1)
    client.force_login(researcher())
    client.post(f"/studies/{study.pk}/launch/")
    listing = client.get(f"/studies/{study.pk}/analysis/?outcome=all").content.decode()
    assert listing.count('name="winner" value="a"') == 3  # unjudged pairs are listed too
    pair = Comparison.objects.filter(study=study).order_by("pk").first()
    assert pair is not None
    response = client.post(f"/studies/{study.pk}/gold/",
                           {"comparison": pair.pk, "winner": "b", "outcome": "all"})  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/studies/{study.pk}/analysis/?outcome=all#pairs"
    pair.refresh_from_db()
    assert pair.is_gold and pair.gold_winner_id == pair.image_b_id
    assert 'id="gold-missing"' not in client.get(f"/studies/{study.pk}/").content.decode()
    client.post(f"/studies/{study.pk}/gold/", {"comparison": pair.pk, "winner": "none"})
    pair.refresh_from_db()
    assert not pair.is_gold and pair.gold_winner_id is None
    other = make_study(n_configs=2)
    bad = client.post(f"/studies/{other.pk}/gold/", {"comparison": pair.pk, "winner": "a"},
                      follow=True).content.decode()  # fmt: skip
    assert "No such pair in this study." in bad
