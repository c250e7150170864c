from __future__ import annotations

import contextlib
import json
from typing import Any

from rest_framework import serializers

from developers import netguard, webhooks
from developers.models import WebhookDelivery, WebhookEndpoint


def registered_endpoint_url(user: Any, url: str) -> str:
    """The URL of the user's active endpoint that `url` names; a validation error if there is none."""
    candidates = {url.strip()}
    with contextlib.suppress(netguard.Refused):
        candidates.add(netguard.parse(url.strip()).url)  # the normal form registration stored
    match = WebhookEndpoint.objects.filter(user=user, url__in=candidates).first()
    if match is None:
        raise serializers.ValidationError("Register this URL as a webhook endpoint first (/api/v1/webhook-endpoints/).")
    if not match.active:
        raise serializers.ValidationError("This webhook endpoint is disabled; enable it first.")
    return match.url


class WebhookEndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "active",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "last_success_at",
            "previous_secret_expires_at",
            "created_at",
        ]
        read_only_fields = fields


class WebhookEndpointSecretSerializer(WebhookEndpointSerializer):
    """The endpoint with its signing secret: answered only when the endpoint is made or its secret rotated."""

    secret = serializers.CharField(read_only=True, help_text="whsec_… Shown only now; keep it safe.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(
        max_length=netguard.MAX_URL_LENGTH,
        help_text="An https URL of yours (http only in development) that is reachable from the internet.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_url(self, value: str) -> str:
        try:
            url = webhooks.check_url(value)
        except netguard.Refused as exc:
            raise serializers.ValidationError(str(exc), code="url_not_allowed") from exc
        if WebhookEndpoint.objects.filter(user=self.context["request"].user, url=url).exists():
            raise serializers.ValidationError("You already have an endpoint for this URL.", code="duplicate")
        return url


class AttemptSerializer(serializers.Serializer):
    attempt = serializers.IntegerField()
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True, required=False)
    error = serializers.CharField(allow_blank=True, required=False)
    duration_ms = serializers.IntegerField(required=False)
    address = serializers.CharField(allow_blank=True, required=False, help_text="The IP address connected to.")
    response = serializers.CharField(allow_blank=True, required=False, help_text="The answer's first 500 bytes.")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField(help_text="The event exactly as it was signed and sent.")
    log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint",
            "generation",
            "event_type",
            "message_id",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "next_attempt_at",
            "created_at",
            "finished_at",
            "payload",
            "log",
        ]
        read_only_fields = fields

    def get_payload(self, delivery: WebhookDelivery) -> dict[str, Any]:
        return dict(json.loads(delivery.payload))
