"""Who may look at the ops surfaces: a permission (not staff status alone), or the metrics token for scrapers."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest

VIEW_METRICS = "ops.view_metrics"
VIEW_OPS = "ops.view_ops"


def has_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    return bool(token) and hmac.compare_digest(request.headers.get("Authorization", ""), f"Bearer {token}")


def may_read_metrics(request: HttpRequest) -> bool:
    return request.user.has_perm(VIEW_METRICS) or has_token(request)
