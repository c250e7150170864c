"""What the alerting remembers (a sample of each watched figure, one row per incident), and the ops permissions."""

from __future__ import annotations

from django.db import models


class MetricSample(models.Model):
    """One evaluation's value of a watched figure; the trailing day of them is its baseline."""

    metric = models.CharField(max_length=40)
    value = models.FloatField()
    at = models.DateTimeField()
    # Taken while the figure was in an alert: left out of the baseline, so an incident never becomes the norm.
    firing = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["metric", "at"])]

    def __str__(self) -> str:
        return f"{self.metric}={self.value:g} at {self.at:%Y-%m-%d %H:%M}"


class Alert(models.Model):
    """One incident: a watched figure far above its baseline, from when it was seen until it was back to normal."""

    metric = models.CharField(max_length=40)
    opened_at = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField(help_text="The figure when the alert opened.")
    peak = models.FloatField()
    last_value = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(help_text="Above this the figure was out of the ordinary.")
    baseline = models.FloatField(help_text="The figure's trailing mean.")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # One alert per incident: a figure has at most one open alert, whoever evaluates.
            models.UniqueConstraint(fields=["metric"], condition=models.Q(cleared_at=None), name="one_open_alert")
        ]

    def __str__(self) -> str:
        return f"{self.metric} since {self.opened_at:%Y-%m-%d %H:%M}"

    @property
    def firing(self) -> bool:
        return self.cleared_at is None


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
