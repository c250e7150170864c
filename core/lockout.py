"""The answer to a sign-in while its username or address is locked out (django-axes calls it).

One message whatever the username: it must not tell an attacker whether the account exists.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from core.api import error_body

MESSAGE = "Too many failed sign-in attempts. Try again in {minutes} minutes."


def cooloff_s() -> int:
    return math.ceil(settings.AXES_COOLOFF_TIME.total_seconds())


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    seconds = cooloff_s()
    message = MESSAGE.format(minutes=max(math.ceil(seconds / 60), 1))
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse(error_body("locked_out", message, retry_after=seconds), status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response
