"""REST API for studies: CRUD, launch, progress, retry, open and close (researchers only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from evalsite.api_errors import validated
from generation.models import GenerationConfig, Image, Prompt
from generation.services.rendering import RenderQueueUnavailable
from generation.validation import FREE_TEXT_MAX_CHARS
from ratings.models import DEFAULT_CRITERIA, Study
from ratings.selectors import study_images, study_render_progress
from ratings.services import studies as study_services


class CriterionSerializer(serializers.Serializer[Any]):
    key = serializers.SlugField(max_length=40)
    label = serializers.CharField(max_length=80)  # type: ignore[assignment]
    question = serializers.CharField(max_length=300)


class StudySerializer(serializers.ModelSerializer[Study]):
    prompts = serializers.PrimaryKeyRelatedField(
        queryset=Prompt.objects.all(), many=True, required=False
    )
    configs = serializers.PrimaryKeyRelatedField(
        queryset=GenerationConfig.objects.all(), many=True, required=False
    )
    raters = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), many=True, required=False
    )
    rater_groups = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), many=True, required=False
    )
    criteria = CriterionSerializer(many=True, required=False)
    launch_problems = serializers.SerializerMethodField()

    class Meta:
        model = Study
        fields = [
            "id", "kind", "name", "instructions", "prompts", "configs", "baseline", "design",
            "seeds_per_prompt", "base_seed", "target_judgments", "gold_rate", "raters",
            "rater_groups", "criteria", "status", "launch_problems", "created_at", "launched_at",
            "decision_rule", "decision_confidence", "decision_a", "decision_b", "series",
        ]  # fmt: skip
        # What kind of study it is, and the checkpoint series it compares, are fixed at creation
        # (checklist, best-of-N and series studies are created through their own endpoints).
        read_only_fields = ["kind", "series", "status", "created_at", "launched_at"]
        # The service's rule (study_create, study_update), repeated for the schema.
        extra_kwargs = {
            "instructions": {
                "max_length": FREE_TEXT_MAX_CHARS,
                "error_messages": {"max_length": study_services.INSTRUCTIONS_TOO_LONG},
            }
        }

    def get_launch_problems(self, obj: Study) -> list[str]:
        return study_services.study_launch_problems(obj)

    def to_representation(self, instance: Study) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["criteria"] = [
            {"key": c.key, "label": c.label, "question": c.question}
            for c in instance.criteria.all()
        ]
        return data

    @staticmethod
    def _criteria(rows: list[dict[str, str]] | None) -> list[tuple[str, str, str]] | None:
        if rows is None:
            return None
        return [(r["key"], r["label"], r["question"]) for r in rows]

    def create(self, validated_data: dict[str, Any]) -> Study:
        # Criteria left out: the default ones; an empty list is refused (study_create).
        criteria = self._criteria(validated_data.pop("criteria", None))
        request = self.context.get("request")
        return study_services.study_create(
            prompts=validated_data.pop("prompts", []),
            configs=validated_data.pop("configs", []),
            criteria=DEFAULT_CRITERIA if criteria is None else criteria,
            created_by=getattr(request, "user", None),
            **validated_data,
        )

    def update(self, instance: Study, validated_data: dict[str, Any]) -> Study:
        return study_services.study_update(
            study=instance,
            prompts=validated_data.pop("prompts", None),
            configs=validated_data.pop("configs", None),
            raters=validated_data.pop("raters", None),
            rater_groups=validated_data.pop("rater_groups", None),
            criteria=self._criteria(validated_data.pop("criteria", None)),
            **validated_data,
        )


class RetrySerializer(serializers.Serializer[Any]):
    images = serializers.ListField(
        # The range of an image id (BigAutoField): SQLite cannot even compare a larger int.
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        help_text="Ids of failed images to queue again; omit for all of the study's failed images.",
    )


class ProgressSerializer(serializers.Serializer[Any]):
    pending = serializers.IntegerField()
    queued = serializers.IntegerField()
    rendering = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField()
    eta_seconds = serializers.FloatField(allow_null=True)
    seconds_per_image = serializers.FloatField(allow_null=True)
    active_workers = serializers.IntegerField()
    status = serializers.CharField()
    failed_images = serializers.ListField(child=serializers.DictField())


def _progress_payload(study: Study) -> dict[str, Any]:
    progress = study_render_progress(study_id=study.pk)
    failed = study_images(study_id=study.pk).filter(status=Image.Status.FAILED).order_by("pk")
    return {
        **asdict(progress),
        "total": progress.total,
        "percent": progress.percent,
        "eta_seconds": progress.eta_seconds,
        "status": study.status,
        "failed_images": [
            {
                "id": i.pk,
                "config": i.config_id,
                "prompt": i.prompt_id,
                "seed": i.seed,
                "error": i.error,
            }  # fmt: skip
            for i in failed
        ],
    }


def _queue_unavailable(error: RenderQueueUnavailable, study: Study) -> Response:
    """503: the study's rows are committed; the broker did not take the render batches."""
    study.refresh_from_db()
    return Response(
        {"detail": str(error), "images_waiting": error.waiting, "status": study.status},
        status=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "60"},
    )


class StudyViewSet(viewsets.ModelViewSet[Study]):
    queryset = Study.objects.select_related("rerank").prefetch_related(
        "prompts", "configs", "raters", "rater_groups", "criteria"
    )
    serializer_class = StudySerializer

    def perform_destroy(self, instance: Study) -> None:
        if instance.status != Study.Status.DRAFT:
            raise ValidationError(
                {"detail": "Only draft studies can be deleted: close a launched study instead."}
            )
        instance.delete()

    @extend_schema(request=None, responses={200: dict, 400: dict, 503: dict})
    @action(detail=True, methods=["post"])
    def launch(self, request: Request, pk: str | None = None) -> Response:
        """Create the images and comparisons and queue rendering. Launching twice is harmless."""
        study = self.get_object()
        try:
            result = study_services.study_launch(study=study, actor=request.user)
        except RenderQueueUnavailable as error:
            return _queue_unavailable(error, study)
        study.refresh_from_db()
        return Response({**asdict(result), "status": study.status})

    @extend_schema(responses=ProgressSerializer)
    @action(detail=True, methods=["get"])
    def progress(self, request: Request, pk: str | None = None) -> Response:
        return Response(_progress_payload(self.get_object()))

    @extend_schema(request=RetrySerializer, responses={200: ProgressSerializer, 503: dict})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Queue the study's failed images again (all, or the ids given as `images`)."""
        study = self.get_object()
        body = validated(RetrySerializer, request.data)
        try:
            study_services.study_retry_failed(study=study, image_ids=body.get("images") or None)
        except RenderQueueUnavailable as error:
            return _queue_unavailable(error, study)
        return Response(_progress_payload(study))

    @extend_schema(request=None, responses=StudySerializer)
    @action(detail=True, methods=["post"])
    def open(self, request: Request, pk: str | None = None) -> Response:
        return self._set(study_services.study_open)

    @extend_schema(request=None, responses=StudySerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, pk: str | None = None) -> Response:
        return self._set(study_services.study_close)

    def _set(self, service: Any) -> Response:
        study = self.get_object()
        service(study=study, actor=self.request.user)
        return Response(self.get_serializer(study).data)
