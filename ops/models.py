"""No tables: only the permissions that open the ops surfaces (/metrics, /readyz's detail, /admin/ops/)."""

from __future__ import annotations

from django.db import models


class OpsAccess(models.Model):
    """Holds the ops permissions; staff status alone opens none of these surfaces."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_metrics", "Can read /metrics and the detail of /readyz"),
            ("view_ops", "Can see the live ops page (/admin/ops/)"),
        ]

    def __str__(self) -> str:
        return "ops access"
