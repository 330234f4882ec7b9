from django.core.exceptions import ValidationError
from rest_framework import exceptions

from evalsite.api_errors import as_api_exception, validation_body
from ratings.services.judging import NotYours


def test_validation_body_keeps_field_messages() -> None:
    error = ValidationError({"name": ["Taken."], "seed": ["Too big.", "Not a number."]})
    assert validation_body(error) == {"name": ["Taken."], "seed": ["Too big.", "Not a number."]}


def test_validation_body_puts_messages_without_a_field_in_detail() -> None:
    assert validation_body(ValidationError(["One.", "Two."])) == {"detail": ["One.", "Two."]}


def test_as_api_exception_maps_service_errors_to_400_bodies() -> None:
    mapped = as_api_exception(ValidationError("Launch it first."))
    assert isinstance(mapped, exceptions.ValidationError)
    assert mapped.detail == {"detail": ["Launch it first."]}
    mapped = as_api_exception(NotYours())
    assert isinstance(mapped, exceptions.ValidationError)
    assert mapped.detail == {"presentation": ["No such presentation was issued to you."]}


def test_as_api_exception_leaves_other_exceptions_alone() -> None:
    error = KeyError("x")
    assert as_api_exception(error) is error
