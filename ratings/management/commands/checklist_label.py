"""Have an automatic labeller answer a checklist study's rendered images, in this process."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from generation.services.labelling import labeller_problem
from ratings.checklists.services import checklist_label
from ratings.management.study_command import StudyCommand
from ratings.models import Study


class Command(StudyCommand):
    study_kind = Study.Kind.CHECKLIST
    study_noun = "checklist study"

    help = (
        "Answer a checklist study with a CLIP scorer of LOUPE_SCORERS (images already labelled "
        "by it are skipped); each image's share of yes becomes the score checklist:<labeller>."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--labeller", default="clip", help="A CLIP scorer's name")

    def handle(self, *args: Any, study: int, labeller: str, **options: Any) -> None:
        found = self.study_get(study)
        problem = labeller_problem(labeller)
        if problem:
            raise CommandError(problem)
        stored = checklist_label(study=found, labeller=labeller)
        self.stdout.write(f"Labeller {labeller} answered {stored} new items of study {study}.")
