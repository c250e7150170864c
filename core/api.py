"""API plumbing shared by every endpoint: the error envelope and token authentication."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError
from django.http import Http404, HttpRequest, JsonResponse
from django.views.defaults import page_not_found, server_error
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a stable machine-readable code, rendered as {"error": {code, message, ...}}."""

    def __init__(self, code: str, message: str, status_code: int = 400, **extra: Any) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            message = _first_message(value)
            return message if key == "non_field_errors" else f"{key}: {message}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error in the one JSON envelope DESIGN.md promises."""
    if isinstance(exc, ApiError):
        response = Response(error_body(exc.error_code, exc.message, **exc.extra), status=exc.status_code)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    if isinstance(exc, RedisError | DatabaseError):
        # A dependency is down: say so plainly and when to come back, never a 500.
        log.warning("dependency unavailable: %s", type(exc).__name__)
        response = Response(error_body("service_unavailable", "A service we depend on is down; retry shortly."), 503)
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    handled = drf_exception_handler(exc, context)
    if handled is None:
        return None
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("invalid", _first_message(exc.detail), fields=exc.detail)
    elif isinstance(exc, exceptions.Throttled):
        response.data = error_body("throttled", "Too many requests; retry later.", retry_after=exc.wait)  # type: ignore[attr-defined]
    elif isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        code = code if isinstance(code, str) else "error"
        response.data = error_body(code, _first_message(exc.detail))
    return response


def json_not_found(request: HttpRequest, exception: Exception | None = None) -> Any:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "Not found."), status=status.HTTP_404_NOT_FOUND)
    return page_not_found(request, exception or Http404())


def json_server_error(request: HttpRequest) -> Any:
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "Something went wrong on our side."), status=500)
    return server_error(request)
