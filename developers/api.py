"""The webhook API: endpoints (register, list, disable, enable, rotate, delete) and their delivery log."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import ApiError
from core.throttle import WorkRateThrottle
from developers import webhooks
from developers.models import WebhookDelivery, WebhookEndpoint
from developers.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSecretSerializer,
    WebhookEndpointSerializer,
)

UUID_PATTERN = "[0-9a-fA-F-]{32,36}"
ENDPOINT_EXAMPLE = {
    "id": "6f1c2b0e-4f7a-4d43-9a8e-1c2d3e4f5a6b",
    "url": "https://hooks.example.com/interiorai",
    "description": "Production receiver",
    "active": True,
    "disabled_reason": "",
    "disabled_at": None,
    "consecutive_failures": 0,
    "last_success_at": None,
    "previous_secret_expires_at": None,
    "created_at": "2025-01-31T12:00:00Z",
}
SECRET_EXAMPLE = {**ENDPOINT_EXAMPLE, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1rA7G1Zo3VA="}


def owned_endpoints(request: Request) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=request.user)


def owned_deliveries(request: Request) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint__user=request.user)


@extend_schema_view(
    list=extend_schema(summary="List your webhook endpoints (secrets are never listed)"),
    retrieve=extend_schema(summary="One webhook endpoint"),
    destroy=extend_schema(summary="Delete a webhook endpoint and its delivery log"),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    queryset = WebhookEndpoint.objects.all()  # for the schema's types; requests see only their own
    serializer_class = WebhookEndpointSerializer
    lookup_value_regex = UUID_PATTERN

    def get_queryset(self) -> QuerySet[WebhookEndpoint]:
        return owned_endpoints(self.request)

    @extend_schema(
        summary="Register a webhook endpoint",
        description=(
            "The URL is checked now and before every delivery: it must be https (http only in development) and "
            "its host must resolve to public addresses only. The signing secret is in this answer and never again."
        ),
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointSecretSerializer},
        examples=[
            OpenApiExample("Register", value={"url": "https://hooks.example.com/interiorai"}, request_only=True),
            OpenApiExample("Registered", value=SECRET_EXAMPLE, response_only=True, status_codes=["201"]),
        ],
    )
    def create(self, request: Request) -> Response:
        form = WebhookEndpointCreateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        endpoint = webhooks.create_endpoint(
            request.user, form.validated_data["url"], form.validated_data["description"]
        )
        return Response(WebhookEndpointSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhooks.delete_endpoint(instance)

    @extend_schema(summary="Stop sending to this endpoint", request=None, responses={200: WebhookEndpointSerializer})
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        webhooks.disable_endpoint(endpoint)
        endpoint.refresh_from_db()
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Send to this endpoint again (its failure count starts over)",
        request=None,
        responses={200: WebhookEndpointSerializer},
    )
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        webhooks.enable_endpoint(endpoint)
        endpoint.refresh_from_db()
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Rotate the signing secret",
        description=(
            "Answers the new secret (shown only now). Until `previous_secret_expires_at` every message carries "
            "two signatures, one per secret, so receivers can switch over without losing events."
        ),
        request=None,
        responses={200: WebhookEndpointSecretSerializer},
        examples=[
            OpenApiExample(
                "Rotated",
                value={**SECRET_EXAMPLE, "previous_secret_expires_at": "2025-02-01T12:00:00Z"},
                response_only=True,
            )
        ],
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = webhooks.rotate_secret(self.get_object())
        return Response(WebhookEndpointSecretSerializer(endpoint).data)


@extend_schema_view(
    list=extend_schema(
        summary="Your webhook deliveries, newest first, with every attempt",
        parameters=[OpenApiParameter("endpoint", OpenApiTypes.UUID, description="Only this endpoint's deliveries.")],
    ),
    retrieve=extend_schema(summary="One delivery, its exact payload and its attempts"),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = WebhookDelivery.objects.all()  # for the schema's types; requests see only their own
    serializer_class = WebhookDeliverySerializer
    lookup_value_regex = UUID_PATTERN

    def get_throttles(self) -> list[Any]:
        # A replay is a free send to the user's receiver: it counts against their rate of creates.
        throttles = super().get_throttles()
        return [*throttles, WorkRateThrottle()] if self.action == "replay" else throttles

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        deliveries = owned_deliveries(self.request)
        endpoint = self.request.query_params.get("endpoint")
        if endpoint:
            try:
                deliveries = deliveries.filter(endpoint_id=uuid.UUID(endpoint))
            except ValueError as exc:
                raise ApiError("invalid", "endpoint must be a UUID.", fields={"endpoint": ["Not a UUID."]}) from exc
        return deliveries

    @extend_schema(
        summary="Send a finished delivery again",
        description="The same webhook-id and body, newly signed, with a fresh set of retries.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str | None = None) -> Response:
        delivery = self.get_object()
        if not webhooks.replay(delivery):
            raise ApiError("already_pending", "This delivery is still being attempted.", 409)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
