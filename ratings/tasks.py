"""Celery tasks of the ratings app: parse ids, call a service."""

from __future__ import annotations

from celery import shared_task

from ratings.checklists.services import checklist_label
from ratings.models import Study


@shared_task(acks_late=True, ignore_result=True)
def label_checklist(study_id: int, labeller: str) -> int:
    """An automatic labeller answers a checklist study's images (on a render worker)."""
    study = Study.objects.filter(pk=int(study_id), kind=Study.Kind.CHECKLIST).first()
    return 0 if study is None else checklist_label(study=study, labeller=str(labeller))
