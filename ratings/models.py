from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from evalsite.fields import user_reference
from generation.designs import Design as StudyDesign
from generation.models import GenerationConfig, Image, Prompt
from generation.validation import (
    SEED_MAX,
    SEEDS_PER_PROMPT_MAX,
    InRange,
    seed_validators,
    seeds_per_prompt_validators,
    validate_image_pixels,
    validate_upload_size,
)

DEFAULT_CRITERIA: tuple[tuple[str, str, str], ...] = (
    ("prompt_adherence", "Prompt adherence", "Which image better matches the prompt?"),
    ("modern_aesthetic", "Modern aesthetic", "Which looks more modern and clean?"),
)


class Study(models.Model):
    class Kind(models.TextChoices):
        # What a rater is asked: which of two images is better (pairwise, also used by series
        # studies over a LoRA checkpoint series), or a checklist about one image; a rerank
        # study is pairwise between a scorer's top pick and a random candidate of one config.
        PAIRWISE = "pairwise", "Pairwise"
        CHECKLIST = "checklist", "Key-term checklist"
        RERANK = "rerank", "Best-of-N reranking"

    Design = StudyDesign  # generation.designs owns the designs and the pairs each compares

    class DecisionRule(models.TextChoices):
        NONE = "none", "No decision rule"
        BEST = "best", "Best configuration"
        PAIR = "pair", "One configuration against another"

    class Status(models.TextChoices):
        DRAFT = "draft"
        RENDERING = "rendering"
        OPEN = "open"
        CLOSED = "closed"

    #: Which statuses take raters' work, the one owner (the selectors, the services, the
    #: rating path's SQL and pages read these): pairs are dealt only while a study is open;
    #: once it has closed, answers to pairs issued before are still recorded.
    DEALING_STATUSES: tuple[str, ...] = (Status.OPEN,)
    ANSWERING_STATUSES: tuple[str, ...] = (Status.OPEN, Status.CLOSED)

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(
        max_length=12, choices=Kind.choices, default=Kind.PAIRWISE, editable=False
    )
    instructions = models.TextField(blank=True, help_text="Markdown, shown to raters.")
    prompts = models.ManyToManyField(Prompt, related_name="studies")
    configs = models.ManyToManyField(GenerationConfig, related_name="studies")
    baseline = models.ForeignKey(
        GenerationConfig, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    seeds_per_prompt = models.PositiveSmallIntegerField(
        default=2,
        validators=seeds_per_prompt_validators,
    )
    base_seed = models.BigIntegerField(default=1234, validators=seed_validators)
    design = models.CharField(max_length=16, choices=Design.choices, default=Design.ALL_PAIRS)
    target_judgments = models.PositiveSmallIntegerField(
        default=5,
        validators=[InRange(1, 100, "Target judgments per comparison must be between 1 and 100.")],
    )
    gold_rate = models.FloatField(
        default=0.05,
        validators=[InRange(0.0, 0.5, "Gold rate must be between 0 and 0.5.")],
    )
    min_response_ms = models.PositiveIntegerField(
        default=800, help_text="Votes faster than this are kept but flagged."
    )
    # Anytime-valid stopping (ratings.analysis.stopping): what the dashboard says is decided.
    decision_rule = models.CharField(
        max_length=8,
        choices=DecisionRule.choices,
        default=DecisionRule.BEST,
        help_text="What the dashboard decides, per criterion, as votes arrive.",
    )
    decision_confidence = models.FloatField(
        default=0.95,
        validators=[InRange(0.5, 0.999, "Decision confidence must be between 0.5 and 0.999.")],
        help_text="Chance that a decision shown is right, however often the page is checked.",
    )
    decision_a = models.ForeignKey(
        GenerationConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_b = models.ForeignKey(
        GenerationConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    raters = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="rater_studies"
    )
    rater_groups = models.ManyToManyField(Group, blank=True, related_name="studies")
    excluded_raters = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="excluded_from_studies"
    )
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    created_by = user_reference()
    created_at = models.DateTimeField(auto_now_add=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    # A study over a LoRA checkpoint series (kind pairwise): its configurations are the
    # series' checkpoints, and its result plots strength against training step (ratings/series/).
    series = models.ForeignKey(
        "generation.CheckpointSeries",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="studies",
        editable=False,
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0, gold_rate__lte=0.5), name="study_gold_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(base_seed__gte=0, base_seed__lte=SEED_MAX - SEEDS_PER_PROMPT_MAX),
                name="study_base_seed_range",
            ),
            models.CheckConstraint(
                condition=Q(decision_confidence__gte=0.5, decision_confidence__lte=0.999),
                name="study_decision_confidence_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def rater_statuses(*, closed_too: bool = False) -> tuple[str, ...]:
        """The statuses a rater may judge in (`closed_too`: or still answer pairs issued)."""
        return Study.ANSWERING_STATUSES if closed_too else Study.DEALING_STATUSES

    @property
    def answers_only(self) -> bool:
        """Nothing new is dealt, but answers to pairs issued before are still recorded."""
        return self.status in self.ANSWERING_STATUSES and self.status not in self.DEALING_STATUSES

    def clean(self) -> None:
        super().clean()
        if self.decision_rule == self.DecisionRule.PAIR:
            missing = {
                name: "A decision between two configurations needs both of them."
                for name in ("decision_a", "decision_b")
                if getattr(self, f"{name}_id") is None
            }
            if missing:
                raise ValidationError(missing, code="decision_pair")
            if self.decision_a_id == self.decision_b_id:
                raise ValidationError(
                    {"decision_b": "Choose two different configurations to decide between."},
                    code="decision_pair",
                )

    def seeds(self) -> list[int]:
        return [self.base_seed + i for i in range(self.seeds_per_prompt)]

    def page_url(self, page: str) -> str:
        """This study's `page` (a key of STUDY_PAGES): the one its kind is shown on."""
        return reverse(STUDY_PAGES[page][self.kind], args=[self.pk])

    def get_absolute_url(self) -> str:
        return self.page_url("detail")

    @property
    def results_url(self) -> str:
        return self.page_url("results")

    @property
    def results_label(self) -> str:
        return RESULTS_LABELS[self.kind]

    @property
    def kind_label(self) -> str:
        """What kind of study this is, in the words of the study lists."""
        if self.kind == self.Kind.RERANK:
            return f"Best\u2011of\u2011{self.seeds_per_prompt}"  # non-breaking hyphens
        if self.kind == self.Kind.CHECKLIST:
            return str(self.Kind.CHECKLIST.label)
        return "Checkpoint series" if self.series_id else str(self.get_design_display())


# A study's pages, by kind: page → kind → URL name (each takes the study's id). A series study
# is pairwise. Pairwise pages opened on a study of another kind redirect to its own page
# (ratings.views.kind_redirect); links choose with Study.page_url.
_PAIRWISE, _CHECKLIST, _RERANK = Study.Kind.PAIRWISE, Study.Kind.CHECKLIST, Study.Kind.RERANK
STUDY_PAGES: dict[str, dict[str, str]] = {
    "detail": {_PAIRWISE: "study-detail", _CHECKLIST: "study-detail", _RERANK: "rerank-detail"},
    "edit": {_PAIRWISE: "study-edit", _CHECKLIST: "checklist-edit", _RERANK: "rerank-detail"},
    # Results: a best-of-N study has one configuration (nothing to rank or decide between).
    "results": {
        _PAIRWISE: "study-analysis",
        _CHECKLIST: "checklist-results",
        _RERANK: "rerank-result",
    },
    "report": {
        _PAIRWISE: "study-report",
        _CHECKLIST: "checklist-results",
        _RERANK: "rerank-result",
    },
    # A checklist shows one image at a time; best-of-N pairs are rated as any pairs are.
    "rate": {_PAIRWISE: "rate-study", _CHECKLIST: "checklist-rate", _RERANK: "rate-study"},
}
RESULTS_LABELS: dict[str, str] = {
    _PAIRWISE: "Analysis",
    _CHECKLIST: "Checklist results",
    _RERANK: "Result",
}


class Criterion(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=80)
    question = models.CharField(max_length=300)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["study", "order", "id"]
        verbose_name_plural = "criteria"
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="criterion_key_unique"),
        ]

    def __str__(self) -> str:
        return self.label


class Comparison(models.Model):
    """Two images of the same prompt and seed: only the configuration differs.

    In a best-of-N study (ratings.rerank) the two images share prompt and configuration and
    differ in seed; `seed` is then the scorer's pick's seed (a tournament pair's: the lower of
    its two).
    """

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+")
    seed = models.BigIntegerField()
    # Stored with image_a_id < image_b_id so the unordered pair is unique in the database.
    image_a = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    image_b = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    is_gold = models.BooleanField(default=False)
    gold_winner = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "image_a", "image_b"], name="comparison_pair_unique"
            ),
            models.CheckConstraint(
                condition=Q(image_a__lt=F("image_b")), name="comparison_images_ordered_distinct"
            ),
        ]

    def __str__(self) -> str:
        return f"Comparison {self.pk} (study {self.study_id})"


class Presentation(models.Model):
    """What the server showed one rater: which image sat on the left, and when."""

    comparison = models.ForeignKey(
        Comparison, on_delete=models.CASCADE, related_name="presentations"
    )
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presentations"
    )
    left = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="+")
    is_repeat = models.BooleanField(default=False)
    # Reset each time the card becomes the one on screen (prefetched cards are issued early).
    shown_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["rater", "comparison"])]
        constraints = [
            # A pair is shown to a rater once, plus at most one swapped-sides repeat.
            models.UniqueConstraint(
                fields=["rater", "comparison", "is_repeat"], name="presentation_once_per_rater"
            ),
        ]

    def __str__(self) -> str:
        return f"Presentation {self.pk}"

    @property
    def right(self) -> Image:
        c = self.comparison
        return c.image_b if self.left_id == c.image_a_id else c.image_a


class Judgment(models.Model):
    class Outcome(models.TextChoices):
        WIN = "win", "One image wins"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"

    presentation = models.ForeignKey(
        Presentation, on_delete=models.CASCADE, related_name="judgments"
    )
    # Denormalised from the presentation so the database can enforce one vote per
    # rater × comparison × criterion.
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="judgments")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="judgments"
    )
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="judgments")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    winner = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_repeat = models.BooleanField(default=False)
    tags = models.JSONField(
        default=list,
        blank=True,
        help_text='Defects as "a:<tag>" / "b:<tag>": a and b are the comparison\'s image_a / image_b.',
    )
    response_ms = models.PositiveIntegerField(null=True, blank=True)
    flagged_fast = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One first vote, and at most one swapped-sides repeat for self-consistency.
            models.UniqueConstraint(
                fields=["rater", "comparison", "criterion", "is_repeat"],
                name="judgment_unique_per_rater",
            ),
            models.CheckConstraint(
                condition=(Q(outcome="win") & Q(winner__isnull=False))
                | (Q(outcome__in=["tie", "both_bad"]) & Q(winner__isnull=True)),
                name="judgment_winner_matches_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"Judgment {self.pk}"

    def clean(self) -> None:
        super().clean()
        if self.winner_id is None or self.comparison_id is None:
            return
        pair = (self.comparison.image_a_id, self.comparison.image_b_id)
        if self.winner_id not in pair:
            message = "The winner must be one of the comparison's two images."
            raise ValidationError({"winner": ValidationError(message, code="not_in_pair")})


class ReferenceImage(models.Model):
    """A researcher-uploaded picture of the wanted look, shown to raters before they judge."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="reference_images")
    image = models.ImageField(
        upload_to="reference/", validators=[validate_upload_size, validate_image_pixels]
    )
    caption = models.CharField(max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "order", "id"]

    def __str__(self) -> str:
        return self.caption or f"Reference {self.pk}"


# Best-of-N and checklist studies' rows live in their own modules (ratings.rerank, ratings.checklists),
# the counters the database keeps by triggers in ratings.counters, the audit log in ratings.audit_log.
from ratings.audit_log import AuditEvent  # noqa: E402, F401
from ratings.checklists.models import (  # noqa: E402, F401
    ChecklistAnswer,
    ChecklistField,
    ChecklistImage,
    ChecklistLabel,
    ChecklistShowing,
)
from ratings.counters import PairExposure, VoteTally  # noqa: E402, F401
from ratings.rerank.models import RerankCandidate, RerankPick, RerankSetup  # noqa: E402, F401
