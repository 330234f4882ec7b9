"""Seeds the database of a served Loupe (tests/browser/test_production.py) and prints JSON.

    DJANGO_SETTINGS_MODULE=evalsite.settings python -m tests.browser.production_seed

Runs in its own process against the server's database and MEDIA_ROOT (from the environment):
an open study for the raters with rendered images, a second one closed to them, and a rater
named `gem` (password `pw`).
"""

from __future__ import annotations

import json

import django


def main() -> None:
    django.setup()
    from tests.factories import rater, ready_study

    mine = ready_study(n_configs=3, name="Channel-set bands")
    hidden = ready_study(n_configs=2, name="Closed to raters", open_to_raters=False)
    rater(username="gem")
    hidden_image = hidden.comparisons.get().image_a
    any_master = mine.comparisons.first().image_a  # type: ignore[union-attr]
    print(
        json.dumps(
            {
                "study": mine.pk,
                "hidden_display": hidden_image.display_file.name,
                "master": any_master.file.name,
            }
        )
    )


if __name__ == "__main__":
    main()
