from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from evalsite.roles import is_researcher


class IsResearcher(BasePermission):
    message = "Only researchers may use this endpoint."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_researcher(request.user)
