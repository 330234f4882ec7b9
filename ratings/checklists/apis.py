"""The checklist REST API (routes: evalsite/api_urls.py): create a checklist study (launch,
open and close it through /api/studies/), answer as a rater, read results, export answers,
run a labeller. Researchers only, except the two rater endpoints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from evalsite.api_errors import validated
from generation.models import GenerationConfig, Prompt
from generation.services.labelling import labeller_problem
from ratings.analysis_apis import export_apis
from ratings.checklists import exports
from ratings.checklists.items import MAX_VALUE_CHARS, MAX_VALUES, FieldSpec, schema_check
from ratings.checklists.models import FIELD_ATTRIBUTES, Answer
from ratings.checklists.results import checklist_results
from ratings.checklists.services import (
    ANSWERS_ALREADY_RECORDED,
    checklist_answers_record,
    checklist_deal,
    checklist_label_enqueue,
    checklist_study,
    checklist_study_create,
    rater_checklist,
    study_fields,
)
from ratings.models import Study
from ratings.rate_apis import (
    STUDY_PARAM,
    no_card_body,
    no_card_fields,
    rater_api,
    study_param,
    vote_body,
)
from ratings.services.judging import NotYours


class FieldSerializer(serializers.Serializer[Any]):
    attribute = serializers.ChoiceField(choices=FIELD_ATTRIBUTES)
    label = serializers.CharField(max_length=MAX_VALUE_CHARS)  # type: ignore[assignment]
    allowed = serializers.ListField(
        child=serializers.CharField(max_length=MAX_VALUE_CHARS), min_length=2, max_length=MAX_VALUES
    )


class ChecklistStudySerializer(serializers.ModelSerializer[Study]):
    prompts = serializers.PrimaryKeyRelatedField(queryset=Prompt.objects.all(), many=True)
    configs = serializers.PrimaryKeyRelatedField(queryset=GenerationConfig.objects.all(), many=True)
    raters = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.all(), many=True, required=False
    )
    rater_groups = serializers.SlugRelatedField(
        slug_field="name", queryset=Group.objects.all(), many=True, required=False
    )
    schema = FieldSerializer(many=True, required=False)

    class Meta:
        model = Study
        fields = [
            "id", "name", "instructions", "prompts", "configs", "seeds_per_prompt", "base_seed",
            "target_judgments", "raters", "rater_groups", "schema", "kind",
        ]  # fmt: skip
        read_only_fields = ["kind"]

    def validate_schema(self, rows: list[dict[str, Any]]) -> list[FieldSpec]:
        specs = [FieldSpec(r["attribute"], r["label"], tuple(r["allowed"])) for r in rows]
        try:
            schema_check(specs)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict["schema"]) from None
        return specs

    def to_representation(self, instance: Study) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["schema"] = [
            {"attribute": f.attribute, "label": f.label, "allowed": list(f.allowed)}
            for f in study_fields(instance)
        ]
        return data

    def create(self, validated_data: dict[str, Any]) -> Study:
        request = self.context.get("request")
        return checklist_study_create(
            fields=validated_data.pop("schema", []),
            created_by=getattr(request, "user", None),
            **validated_data,
        )


@extend_schema_view(
    post=extend_schema(
        operation_id="checklist_study_create",
        description="Create a draft key-term checklist study; launch, open and close it with "
        "/api/studies/{id}/launch/, open/ and close/.",
    )
)
class ChecklistStudiesApi(generics.CreateAPIView[Study]):
    serializer_class = ChecklistStudySerializer


_CELL = inline_serializer(
    "ChecklistAdherence",
    fields={
        "config": serializers.IntegerField(),
        "item": serializers.CharField(),
        "yes": serializers.IntegerField(),
        "no": serializers.IntegerField(),
        "unsure": serializers.IntegerField(),
        "rate": serializers.FloatField(allow_null=True),
        "low": serializers.FloatField(),
        "high": serializers.FloatField(),
    },
)
_RESULTS = inline_serializer(
    "ChecklistResults",
    fields={
        "study": serializers.IntegerField(),
        "answers": serializers.IntegerField(),
        "raters": serializers.IntegerField(),
        "configs": serializers.DictField(child=serializers.CharField()),
        "items": serializers.ListField(child=serializers.DictField()),
        "adherence": _CELL.__class__(many=True),
        "alpha": serializers.DictField(child=serializers.FloatField(allow_null=True)),
        "ceiling": serializers.DictField(child=serializers.DictField()),
        "labellers": serializers.DictField(child=serializers.DictField()),
        "pairwise": serializers.ListField(child=serializers.DictField()),
    },
)


class ChecklistResultsApi(APIView):
    @extend_schema(
        operation_id="checklist_results",
        responses=_RESULTS,
        description="Adherence per configuration × item (item '*': all items) with 95 % Wilson "
        "intervals, Krippendorff's α and the human ceiling per item, each labeller's agreement "
        "with people per item, and Spearman's ρ against pairwise studies sharing configurations.",
    )
    def get(self, request: Request, study_id: int) -> Response:
        results = checklist_results(study=checklist_study(study_id))
        return Response(
            {
                "study": study_id,
                "answers": results.answers,
                "raters": results.raters,
                "configs": {str(k): v for k, v in results.configs.items()},
                "items": [asdict(i) for i in results.items],
                "adherence": [asdict(c) for c in results.cells.values()],
                "alpha": results.alpha,
                "ceiling": {k: asdict(v) for k, v in results.ceiling.items()},
                "labellers": {
                    name: {k: asdict(v) for k, v in per_item.items()}
                    for name, per_item in results.labellers.items()
                },
                "pairwise": [
                    {
                        "study": r.study_id,
                        "criterion": r.criterion,
                        "configs": r.relation.configs,
                        "adherence": r.relation.adherence,
                        "strength": r.relation.wins,
                        "rho": r.relation.rho,
                        "p_value": r.relation.p_value,
                    }
                    for r in results.relations
                ],
            }
        )


class _AnswersExportApi(APIView):
    fmt = ""

    def get(self, request: Request, study_id: int) -> StreamingHttpResponse:
        return exports.answers_response(checklist_study(study_id), self.fmt)


ChecklistCsvApi, ChecklistJsonlApi = export_apis(
    _AnswersExportApi, operation="checklist_answers", csv="CSV.", jsonl="JSON lines."
)


class LabelRunSerializer(serializers.Serializer[Any]):
    labeller = serializers.CharField(max_length=30)

    def validate_labeller(self, value: str) -> str:
        problem = labeller_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class ChecklistLabelApi(APIView):
    @extend_schema(
        operation_id="checklist_label",
        request=LabelRunSerializer,
        responses={202: LabelRunSerializer},
        description="Have an automatic labeller answer the checklist on a render worker; its "
        "adherence per image is stored as the image score `checklist:<labeller>`.",
    )
    def post(self, request: Request, study_id: int) -> Response:
        study = checklist_study(study_id)
        labeller = validated(LabelRunSerializer, request.data)["labeller"]
        checklist_label_enqueue(study=study, labeller=labeller)
        return Response({"labeller": labeller}, status=status.HTTP_202_ACCEPTED)


# --- Raters ------------------------------------------------------------------------------


def _rater_checklist(request: Request, study_id: int) -> tuple[User, Study]:
    user = request.user
    assert isinstance(user, User)  # CanRate admits signed-in users only
    study = rater_checklist(user=user, study_id=study_id)
    if study is None:
        raise Http404("No checklist study open to you matches the given query.")
    return user, study


_NEXT = inline_serializer(
    "ChecklistNext",
    fields={
        "study": serializers.IntegerField(),
        "showing": serializers.IntegerField(allow_null=True),
        "image": serializers.DictField(allow_null=True),
        "prompt": serializers.DictField(allow_null=True),
        "items": serializers.ListField(child=serializers.DictField()),
        "upcoming": serializers.DictField(allow_null=True),
        "progress": serializers.DictField(),
        **no_card_fields(),
    },
)


@rater_api("GET", parameters=[STUDY_PARAM], responses={200: _NEXT})
def checklist_next_api(request: Request) -> Response:
    """The image to check now (issued to you) with its items, and the next image's URL."""
    user, study = _rater_checklist(request, study_param(request))
    with transaction.atomic():
        deck = checklist_deal(rater=user, study=study)
    card = deck.current
    why = {} if card else no_card_body(deck.state)
    return Response(
        {
            **why,
            "study": study.pk,
            "showing": card.pk if card else None,
            "image": {"url": card.url} if card else None,
            "prompt": {"text": card.prompt, "key_terms": card.key_terms} if card else None,
            "items": [
                {"key": i.key, "kind": i.kind, "label": i.label, "question": i.question}
                for i in (card.items if card else [])
            ],
            "answers": [a.value for a in Answer],
            "upcoming": {"url": deck.upcoming.url} if deck.upcoming else None,
            "progress": {"answered": deck.answered, "ready": deck.ready},
        }
    )


class AnswersInSerializer(serializers.Serializer[Any]):
    study = serializers.IntegerField(min_value=1)
    showing = serializers.IntegerField(min_value=1)
    answers = serializers.DictField(
        child=serializers.ChoiceField(choices=Answer.values),
        help_text="Item key → yes, no or unsure, for every item of the showing.",
    )


@rater_api(
    "POST",
    request=AnswersInSerializer,
    responses={
        201: inline_serializer("ChecklistRecorded", fields={"status": serializers.CharField()})
    },
)
def checklist_answers_api(request: Request) -> Response:
    """Record your answers to every item of one image; sending them again changes nothing."""
    _, data = vote_body(request, AnswersInSerializer)
    user, study = _rater_checklist(request, data["study"])
    try:
        recorded = checklist_answers_record(
            rater=user, study=study, showing_id=data["showing"], answers=data["answers"]
        )
    except NotYours:
        raise Http404("No showing of yours matches the given query.") from None
    if recorded.already_recorded:
        return Response({"status": "already_recorded", "detail": ANSWERS_ALREADY_RECORDED})
    return Response({"status": "recorded"}, status=status.HTTP_201_CREATED)
