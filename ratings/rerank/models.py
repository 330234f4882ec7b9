"""Best-of-N studies' rows (Study.kind = rerank): the setup, the candidates, the scorers' picks.

Imported by ratings.models, so the app's models are all found there.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from generation.models import Image, Prompt
from ratings.models import Comparison, Study


class RerankSetup(models.Model):
    """What a best-of-N study reranks with: its scorers (ImageScore metric names, from
    LOUPE_SCORERS or any other writer of scores, e.g. `checklist:<labeller>`) and the size of
    the small all-pairs human tournament among candidates of each prompt (0: none)."""

    study = models.OneToOneField(
        Study, primary_key=True, on_delete=models.CASCADE, related_name="rerank"
    )
    scorers = models.JSONField(default=list)
    tournament_size = models.PositiveSmallIntegerField(default=0)
    pairs_built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Rerank setup of study {self.study_id}"


class RerankCandidate(models.Model):
    """One of the N candidates (config × prompt × seed) a best-of-N study renders and scores."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rerank_candidates")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    in_tournament = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "image"], name="rerank_candidate_unique"),
        ]

    def __str__(self) -> str:
        return f"Candidate {self.image_id} of study {self.study_id}"


class RerankPick(models.Model):
    """A scorer's top candidate of one prompt and the random candidate it is compared with.

    Two scorers with the same pick and the same drawn rival share one comparison (a pair is
    unique within a study): its votes count for both.
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="rerank_picks")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+")
    scorer = models.CharField(max_length=100)
    pick = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    other = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    comparison = models.ForeignKey(
        Comparison, on_delete=models.CASCADE, related_name="rerank_picks"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "prompt", "scorer"], name="rerank_pick_unique"
            ),
            models.CheckConstraint(condition=~Q(pick=F("other")), name="rerank_pick_other_differs"),
        ]

    def __str__(self) -> str:
        return f"{self.scorer} pick {self.pick_id} vs {self.other_id}"
