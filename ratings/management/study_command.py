"""The base of the management commands about one study, named by --study."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ratings.models import Study


class StudyCommand(BaseCommand):
    """A command about one study: add_arguments adds the required --study, and study_get finds
    that study or stops with a CommandError."""

    study_kind: Study.Kind | None = None  # the one kind of study it takes; None: any kind
    study_noun = "study"  # how its messages name such a study

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--study", type=int, required=True, help=f"{self.study_noun.capitalize()} id"
        )

    def study_get(self, pk: int) -> Study:
        studies = Study.objects.filter(pk=pk)
        if self.study_kind is not None:
            studies = studies.filter(kind=self.study_kind)
        found = studies.first()
        if found is None:
            raise CommandError(f"No {self.study_noun} with id {pk}.")
        return found
