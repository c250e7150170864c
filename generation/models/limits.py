"""The provider's rate limits per model, as an operator sets them in the admin."""

from __future__ import annotations

from django.db import models


class ProviderLimit(models.Model):
    """The provider's rate limits for one model, as an operator sets them in the admin.

    They override `PROVIDER_RPM` / `PROVIDER_IPM` for that model and reach every worker within
    `generation.provider.limits.REFRESH_S` seconds: raising a tier with the provider needs no deploy and no restart.
    """

    provider = models.CharField(
        max_length=40, help_text="The family: `openai` or `replicate` (also when the sandbox stands in)."
    )
    model = models.CharField(max_length=60)
    rpm = models.PositiveIntegerField("requests per minute", help_text="0 = no limit.")
    ipm = models.PositiveIntegerField("images per minute", help_text="0 = no limit.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["provider", "model"], name="one_limit_per_model")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}: {self.rpm} rpm, {self.ipm} ipm"
