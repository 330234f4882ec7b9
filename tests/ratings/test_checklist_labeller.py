"""Automatic labellers answer the checklist: the tiny CLIP (built in code) through the scorer
interface, labels stored per item, and each image's adherence kept as an ImageScore."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from django.test import Client

from generation.engine.labellers import ClipChecklistLabeller
from generation.engine.testing_scorers import save_tiny_clip
from generation.models import ImageScore
from generation.services.labelling import configured_labellers, images_label
from ratings.checklists.models import ChecklistImage, ChecklistLabel, ChecklistShowing
from ratings.checklists.results import checklist_results
from ratings.checklists.services import (
    checklist_answers_record,
    checklist_label,
    items_of,
    label_question,
    study_fields,
)
from tests.factories import rater, ready_checklist_study, researcher


class FixedBackbone:
    """Embeddings chosen by hand, to check the labeller's decision rule."""

    def __init__(self, images: torch.Tensor, texts: dict[str, list[float]]) -> None:
        self.images, self.texts = images, texts

    def image_embeddings(self, images: list[Any]) -> torch.Tensor:
        return self.images[: len(images)]

    def text_embeddings(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([self.texts[t] for t in texts])


def test_labeller_says_yes_only_when_the_yes_text_beats_every_other() -> None:
    backbone = FixedBackbone(
        torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        {"gold": [1.0, 0.0], "silver": [0.0, 1.0], "photo": [0.6, 0.6]},
    )
    labeller = ClipChecklistLabeller(backbone)  # type: ignore[arg-type]
    questions = [("gold", ["silver"]), ("silver", ["gold"]), ("gold", ["silver", "photo"])]
    assert labeller.answer([object(), object()], [questions, questions]) == [  # type: ignore[list-item]
        [True, False, True],
        [False, True, False],
    ]
    with pytest.raises(ValueError, match="one per image"):
        labeller.answer([object()], [])  # type: ignore[list-item]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("labeller") / "clip", seed=0)


@pytest.fixture
def clip_on(settings: Any, clip_dir: Path) -> str:
    settings.LOUPE_SCORERS = {"clip": str(clip_dir)}
    settings.LOUPE_RENDER_DEVICE = "cpu"
    return "clip"


@pytest.mark.django_db
def test_field_questions_compare_the_expected_value_with_the_other_allowed_ones() -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    image = ChecklistImage.objects.get(study=study).image
    questions = {i.key: label_question(i) for i in items_of(image.prompt, study_fields(study))}
    assert questions["term:channel-set"] == ("a photo of channel-set", ("a photo",))
    assert questions["field:material"] == (
        "Metal: platinum",
        ("Metal: yellow gold", "Metal: white gold"),
    )


@pytest.mark.django_db
def test_tiny_clip_labels_every_item_once_and_stores_adherence_scores(clip_on: str) -> None:
    assert configured_labellers() == ["clip"]
    study = ready_checklist_study(n_configs=2, n_prompts=2)
    stored = checklist_label(study=study, labeller="clip")
    assert stored == 4 * 4  # 4 images × (2 terms + 2 fields)
    labels = ChecklistLabel.objects.filter(study=study, labeller="clip")
    assert set(labels.values_list("answer", flat=True)) <= {"yes", "no"}
    for row in ChecklistImage.objects.filter(study=study):
        said = list(labels.filter(image=row.image).values_list("answer", flat=True))
        score = ImageScore.objects.get(image=row.image, metric="checklist:clip")
        assert score.value == pytest.approx(said.count("yes") / len(said))
    assert checklist_label(study=study, labeller="clip") == 0  # safe to rerun
    # Same model, same images: the same answers when asked directly.
    image = ChecklistImage.objects.filter(study=study).first()
    assert image is not None
    again = images_label(
        labeller="clip",
        questions={
            image.image_id: [
                label_question(i) for i in items_of(image.image.prompt, study_fields(study))
            ]
        },
    )
    keys = [i.key for i in items_of(image.image.prompt, study_fields(study))]
    stored_answers = dict(labels.filter(image_id=image.image_id).values_list("item", "answer"))
    assert ["yes" if y else "no" for y in again[image.image_id]] == [
        stored_answers[k] for k in keys
    ]


@pytest.mark.django_db
def test_built_in_tiny_clip_labels_as_the_demo_configures_it(settings: Any) -> None:
    # make run sets LOUPE_SCORERS=clip=tiny-random: the labeller reads the same built-in model
    # as the clip scorer, not a folder named tiny-random.
    settings.LOUPE_SCORERS = {"clip": "tiny-random"}
    settings.LOUPE_RENDER_DEVICE = "cpu"
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    assert checklist_label(study=study, labeller="clip") == 4  # one image × 4 items


@pytest.mark.django_db
def test_results_show_labeller_agreement_beside_the_ceiling(clip_on: str, client: Client) -> None:
    study = ready_checklist_study(n_configs=2, n_prompts=1)
    people = [rater() for _ in range(3)]
    labelled = {}
    checklist_label(study=study, labeller="clip")
    for row in ChecklistLabel.objects.filter(study=study):
        labelled[(row.image_id, row.item)] = row.answer
    for person in people:  # every person answers exactly as the labeller did
        for row in ChecklistImage.objects.filter(study=study).select_related("image__prompt"):
            showing = ChecklistShowing.objects.create(study=study, rater=person, image=row.image)
            answers = {
                i.key: labelled[(row.image_id, i.key)]
                for i in items_of(row.image.prompt, study_fields(study))
            }
            checklist_answers_record(
                rater=person, study=study, showing_id=showing.pk, answers=answers
            )
    results = checklist_results(study=study)
    for item in results.items:
        assert results.labellers["clip"][item.key].rate == 1.0
        assert results.labellers["clip"][item.key].pairs == 3 * 2
        assert results.ceiling[item.key].rate == 1.0
    client.force_login(researcher())
    page = client.get(f"/studies/{study.pk}/checklist/").content.decode()
    assert "Run labeller clip" in page and "<th>clip</th>" in page


@pytest.mark.django_db
def test_run_labeller_button_labels_through_the_celery_task(
    clip_on: str, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    study = ready_checklist_study(n_configs=1, n_prompts=1)
    client.force_login(researcher())
    with django_capture_on_commit_callbacks(execute=True):  # Celery is eager in tests
        response = client.post(
            f"/studies/{study.pk}/checklist/label/", {"labeller": "clip"}, follow=True
        )
    assert "is answering the checklist on a worker" in response.content.decode()
    assert ChecklistLabel.objects.filter(study=study, labeller="clip").count() == 4


@pytest.mark.django_db
def test_checklist_label_command_labels_in_process_and_names_bad_input(
    clip_on: str, settings: Any
) -> None:
    import io

    from django.core.management import CommandError, call_command

    study = ready_checklist_study(n_configs=1, n_prompts=2)
    out = io.StringIO()
    call_command("checklist_label", "--study", str(study.pk), stdout=out)
    assert "answered 8 new items" in out.getvalue()
    with pytest.raises(CommandError, match="not a CLIP scorer"):
        call_command("checklist_label", "--study", str(study.pk), "--labeller", "aesthetic")
    with pytest.raises(CommandError, match="No checklist study"):
        call_command("checklist_label", "--study", "999999")
