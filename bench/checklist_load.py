"""The checklist side of bench/rate_load.py --checklist: the seed (an open checklist study of
rendered images), the simulated rater (answer every item of the image on screen, read the next
one from the response) and the count of what the database holds against what was acknowledged.

    .venv/bin/python bench/rate_load.py --checklist [--quick] [--raters 50]

Figures print as `answer+next …` against the same trivial view as the pairwise run.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from rate_load import Rater, done_images, eight_configs, open_to_raters, tally

#: Images per prompt: 8 configurations × 2 seeds.
IMAGES_PER_PROMPT = 16
ANSWERS = ("yes", "no", "unsure")
SCHEMA = "Metal (material): yellow gold, white gold, silver\nBackground (background): white background, marble"


def seed_checklist(n_raters: int, n_prompts: int) -> tuple[int, list[str]]:
    """An open checklist study of rendered images (two key terms and two schema fields per
    image) on the throwaway database; returns (study id, session keys)."""
    from generation.services.prompts import prompt_create
    from ratings.checklists.items import schema_parse
    from ratings.checklists.services import checklist_images_add, checklist_study_create

    configs = eight_configs()
    prompts = [
        prompt_create(text=f"huggie hoops number {i}, yellow gold, white background",
                      category="huggie hoops", key_terms=["huggie hoops", "yellow gold"],
                      material="yellow gold", background="white background")
        for i in range(n_prompts)
    ]  # fmt: skip
    study = checklist_study_create(
        name="bench checklist", prompts=prompts, configs=configs, seeds_per_prompt=2,
        fields=schema_parse(SCHEMA),
    )  # fmt: skip
    images = [image for p in prompts for seed in study.seeds()
              for image in done_images(configs, p, seed)]  # fmt: skip
    checklist_images_add(study=study, images=images)
    return study.pk, open_to_raters(study, n_raters)


class ChecklistRater(Rater):
    """A simulated rater answering checklists: one POST per image, the next card in reply."""

    page, answer_path = "/rate/checklist/{study}/", "/rate/checklist/{study}/answer/"
    recorded = "Answers recorded."

    def _answer(self, html: str) -> tuple[int, str] | None:
        match = re.search(r'data-showing="(\d+)"', html)
        if match is None:
            return None
        shown = int(match.group(1))
        items = sorted(set(re.findall(r'name="a:([^"]+)"', html)))
        answers = {f"a:{k}": self.random.choice(ANSWERS) for k in items}
        return shown, urlencode({"showing": shown, **answers})


def count_checklist(study: int, acked: list[int]) -> dict[str, int]:
    """What the database holds against what the server acknowledged (answers, per item)."""
    from django.db.models import Count

    from ratings.checklists.models import ChecklistAnswer

    rows = ChecklistAnswer.objects.filter(study_id=study)
    stored = rows.count()
    distinct = rows.values("rater", "image", "item").distinct().count()
    per_showing = dict(
        rows.filter(showing_id__in=acked)
        .values("showing_id")
        .annotate(n=Count("pk"))
        .values_list("showing_id", "n")
    )
    # Every image of the bench has four items: two key terms, two schema fields.
    return tally(stored, distinct, acked, per_showing, 4)
