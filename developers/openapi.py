"""The public API's OpenAPI description: token auth, the error envelope on every operation, and schemas,
examples and path types for the views declared without them (through drf-spectacular's extension points,
so the views themselves stay as they are).
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiViewExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers

from billing.qualities import QUALITIES
from generation.api.serializers import (
    GenerationCreateSerializer,
    GenerationSerializer,
    RoomCreateSerializer,
    RoomSerializer,
)

GENERATION_ID = "0b5f0c7e-2f4d-4a8e-9a57-3f6a1d2c4b11"
ROOM_ID = "5c1e9f0a-7b2d-4c3e-8f4a-9b0c1d2e3f40"

# Shapes of answers the views build by hand ------------------------------------------------------------


class QueuedGenerationSerializer(GenerationSerializer):
    position = serializers.IntegerField(required=False, help_text="1-based place in the queue (while queued).")
    estimated_wait_s = serializers.IntegerField(required=False, help_text="Seconds until the images should be ready.")

    class Meta(GenerationSerializer.Meta):
        fields = [*GenerationSerializer.Meta.fields, "position", "estimated_wait_s"]


class StyleSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    prompt = serializers.CharField()
    swatch = serializers.ListField(child=serializers.CharField())


class NamedSlugSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class CatalogueSerializer(serializers.Serializer):
    styles = StyleSerializer(many=True)
    room_types = NamedSlugSerializer(many=True)
    qualities = serializers.ListField(child=serializers.ChoiceField(choices=QUALITIES))


class UsageSerializer(serializers.Serializer):
    tier = serializers.CharField()
    tier_name = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    generations_used = serializers.IntegerField()
    generations_reserved = serializers.IntegerField()
    generations_limit = serializers.IntegerField()
    spend_usd = serializers.DecimalField(max_digits=12, decimal_places=4)
    reserved_usd = serializers.DecimalField(max_digits=12, decimal_places=4)
    budget_usd = serializers.DecimalField(max_digits=12, decimal_places=4)
    max_in_flight = serializers.IntegerField()
    allowed_qualities = serializers.ListField(child=serializers.CharField())
    max_images = serializers.IntegerField()


GENERATION_EXAMPLE = {
    "id": GENERATION_ID,
    "room": ROOM_ID,
    "style": "scandinavian",
    "room_type": "living_room",
    "prompt": "",
    "quality": "medium",
    "size": "1536x1024",
    "n": 1,
    "status": "succeeded",
    "stage": "done",
    "stage_label": "Done",
    "progress": 100,
    "attempts": 1,
    "cost_usd": "0.0630",
    "estimated_cost_usd": "0.0630",
    "charged": True,
    "cached": False,
    "images": [f"/media/generations/{GENERATION_ID}/0/"],
    "error": None,
    "created_at": "2025-01-31T12:00:00Z",
    "started_at": "2025-01-31T12:00:01Z",
    "finished_at": "2025-01-31T12:00:24Z",
}
QUEUED_EXAMPLE = {
    **GENERATION_EXAMPLE,
    "status": "queued",
    "stage": "queued",
    "stage_label": "Waiting in the queue",
    "progress": 0,
    "attempts": 0,
    "cost_usd": "0.0000",
    "charged": False,
    "images": [],
    "started_at": None,
    "finished_at": None,
    "position": 1,
    "estimated_wait_s": 32,
}
ROOM_EXAMPLE = {
    "id": ROOM_ID,
    "name": "Lounge",
    "room_type": "living_room",
    "photo_url": f"/media/rooms/{ROOM_ID}/photo/",
    "width": 900,
    "height": 600,
    "created_at": "2025-01-31T11:59:00Z",
}
UUID_ID = OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Retries with the same key (up to 255 characters) get the first answer back, not a second job.",
)


# Views declared without schema details ----------------------------------------------------------------


class RoomViewSetSchema(OpenApiViewExtension):
    target_class = "generation.api.views.RoomViewSet"

    def view_replacement(self) -> type:
        @extend_schema_view(
            list=extend_schema(summary="Your rooms, newest first"),
            retrieve=extend_schema(summary="One room", parameters=[UUID_ID]),
            destroy=extend_schema(
                summary="Delete a room, its photo and every generation made from it (queued ones are cancelled)",
                parameters=[UUID_ID],
            ),
            create=extend_schema(
                summary="Upload a room photo",
                description="multipart/form-data with `photo` (JPEG, PNG or WebP), `room_type` and an optional `name`.",
                request={"multipart/form-data": RoomCreateSerializer},
                responses={201: RoomSerializer},
                examples=[OpenApiExample("Room", value=ROOM_EXAMPLE, response_only=True, status_codes=["201"])],
            ),
        )
        class Described(self.target_class):  # type: ignore[name-defined,misc]
            pass

        return Described


class GenerationViewSetSchema(OpenApiViewExtension):
    target_class = "generation.api.views.GenerationViewSet"

    def view_replacement(self) -> type:
        @extend_schema_view(
            list=extend_schema(summary="Your generations, newest first"),
            retrieve=extend_schema(
                summary="One generation: poll this until `status` is final",
                parameters=[UUID_ID],
                responses={200: QueuedGenerationSerializer},
                examples=[OpenApiExample("Succeeded", value=GENERATION_EXAMPLE)],
            ),
            create=extend_schema(
                summary="Start a generation",
                description=(
                    "Answers at once with 202 and the queued job; poll `GET /api/v1/generations/{id}/` or receive a "
                    "webhook when it ends. `callback_url` sends that webhook to one of your registered endpoints only."
                ),
                parameters=[IDEMPOTENCY_KEY],
                request=GenerationCreateSerializer,
                responses={202: QueuedGenerationSerializer},
                examples=[
                    OpenApiExample(
                        "Generate",
                        value={"room": ROOM_ID, "style": "scandinavian", "quality": "medium"},
                        request_only=True,
                    ),
                    OpenApiExample("Queued", value=QUEUED_EXAMPLE, response_only=True, status_codes=["202"]),
                ],
            ),
            cancel=extend_schema(
                summary="Cancel a generation whose provider call has not been sent (nothing is charged)",
                parameters=[UUID_ID],
                request=None,
                responses={200: GenerationSerializer},
            ),
            again=extend_schema(
                summary="Generate a new variant of the same request",
                parameters=[UUID_ID],
                request=None,
                responses={202: QueuedGenerationSerializer},
            ),
            destroy=extend_schema(
                summary="Delete a generation and its images (one the model is rendering: once it ends)",
                parameters=[UUID_ID],
                responses={204: None},
            ),
        )
        class Described(self.target_class):  # type: ignore[name-defined,misc]
            pass

        return Described


class StylesViewSchema(OpenApiViewExtension):
    target_class = "generation.api.views.StylesView"

    def view_replacement(self) -> type:
        @extend_schema_view(get=extend_schema(responses={200: CatalogueSerializer}))
        class Described(self.target_class):  # type: ignore[name-defined,misc]
            pass

        return Described


class UsageViewSchema(OpenApiViewExtension):
    target_class = "generation.api.views.UsageView"

    def view_replacement(self) -> type:
        @extend_schema_view(
            get=extend_schema(summary="This period's usage and limits of your plan", responses={200: UsageSerializer})
        )
        class Described(self.target_class):  # type: ignore[name-defined,misc]
            pass

        return Described


class MediaViewSchema(OpenApiViewExtension):
    target_class = "generation.api.views.MediaView"

    def view_replacement(self) -> type:
        @extend_schema_view(
            get=extend_schema(
                summary="A room photo or a result image (yours only)",
                parameters=[UUID_ID],
                responses={
                    (200, "image/jpeg"): OpenApiResponse(OpenApiTypes.BINARY, description="The JPEG."),
                    302: OpenApiResponse(description="A signed, expiring URL of the file (object storage)."),
                },
            )
        )
        class Described(self.target_class):  # type: ignore[name-defined,misc]
            pass

        return Described


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "developers.authentication.TokenAuthentication"
    name = ["tokenAuth", "bearerAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{"tokenAuth": []}, {"bearerAuth": []}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Token <key>`: a key from POST /api/v1/auth/token/ or the developers page.",
            },
            {"type": "http", "scheme": "bearer", "description": "The same key as `Bearer <key>`."},
        ]


# Errors on every operation ----------------------------------------------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "description": "Every error has this shape.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "Stable and machine-readable, e.g. `invalid`."},
                "message": {"type": "string", "description": "For people."},
                "fields": {"type": "object", "description": "400 `invalid`: the messages per input field."},
                "retry_after": {"type": "number", "nullable": True, "description": "429: seconds to wait."},
                "resets_at": {"type": "string", "format": "date-time", "description": "402: when the limit resets."},
            },
        }
    },
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
COMMON_ERRORS: dict[str, tuple[str, str, str]] = {
    # status: (description, code, message) for the example
    "400": ("Invalid input; `fields` says which.", "invalid", "style: Unknown style 'gothic'; see /api/v1/styles/."),
    "401": ("No credentials, or a token that is unknown or revoked.", "authentication_failed", "Invalid token."),
    "403": ("Not allowed (e.g. a session request without its CSRF token).", "permission_denied", "Forbidden."),
    "404": ("Not found, or not yours.", "not_found", "Not found."),
    "415": ("A request body type the operation does not take.", "unsupported_media_type", "Unsupported type."),
    "429": ("Too many requests: per token and per user; see Retry-After.", "throttled", "Too many requests."),
    "503": ("A service we depend on is down; see Retry-After.", "service_unavailable", "Retry shortly."),
}
EXTRA_ERRORS: dict[tuple[str, str], dict[str, tuple[str, str, str]]] = {
    ("/api/v1/generations/", "post"): {
        "402": ("Quota or budget of the plan used up.", "quota_exceeded", "You have used this period's generations."),
        "404": ("The room does not exist or is not yours.", "room_not_found", "No such room."),
        "403": ("A quality the plan does not offer.", "quality_not_allowed", "The Free plan offers low, medium."),
        "409": ("A request with this Idempotency-Key is in progress.", "idempotency_key_in_use", "Still running."),
        "422": ("The Idempotency-Key was used for a different request.", "idempotency_key_reused", "Key reused."),
        "503": (
            "At capacity: the job could not finish before its deadline (nothing charged), or a service is down.",
            "at_capacity",
            "We are at capacity: a new redesign would wait about 20 min. Please try again in a few minutes.",
        ),
    },
    ("/api/v1/generations/{id}/again/", "post"): {
        "402": ("Quota or budget of the plan used up.", "quota_exceeded", "You have used this period's generations."),
    },
    ("/api/v1/rooms/", "post"): {"413": ("The photo is too large.", "file_too_large", "The photo is over 15 MB.")},
    ("/api/v1/generations/{id}/cancel/", "post"): {
        "409": (
            "The generation already ended (`already_finished`), or its provider call was sent (`already_rendering`: "
            "the result arrives and is charged).",
            "already_rendering",
            "The image model is already redesigning this room, so it can no longer be cancelled.",
        ),
    },
    ("/api/v1/rooms/{id}/", "delete"): {
        "409": (
            "A generation of the room is rendering: the room is kept until it ends.",
            "already_rendering",
            "The image model is already redesigning this room, so it can no longer be cancelled.",
        ),
    },
    ("/api/v1/generations/{id}/", "delete"): {
        "409": ("The image model is rendering it; delete it once it ends.", "already_rendering", "Still rendering."),
    },
    ("/api/v1/account/", "delete"): {
        "400": ("`confirm` is not your username.", "confirmation_mismatch", "Send your username as `confirm`."),
    },
    ("/api/v1/webhook-deliveries/{id}/replay/", "post"): {
        "409": ("Still pending, or its endpoint is disabled.", "already_pending", "Still being attempted."),
    },
}
PATH_PARAM = re.compile(r"{([^}]+)}")


def _error_response(description: str, code: str, message: str, status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": {code: {"value": {"error": {"code": code, "message": message}}}},
            }
        },
    }
    if status in ("429", "503"):
        response["headers"] = RETRY_AFTER
    return response


def describe_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: add the error envelope, tags and uuid path ids to every operation."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            operation["tags"] = [_tag(path)]
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter["name"] in ("id", "pk"):
                    parameter["schema"] = {"type": "string", "format": "uuid"}
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                description, code, message = (EXTRA_ERRORS.get((path, method)) or {}).get(status) or COMMON_ERRORS[
                    status
                ]
                responses.setdefault(status, _error_response(description, code, message, status))
            for status, extra in (EXTRA_ERRORS.get((path, method)) or {}).items():
                responses.setdefault(status, _error_response(*extra, status))
    return result


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    public = operation.get("security") == [{}]
    unsafe = method in ("post", "put", "patch", "delete")
    parameters = operation.get("parameters", [])
    statuses = ["429", "503"]
    if not public:
        statuses.append("401")
        if unsafe:
            statuses.append("403")  # a browser session without its CSRF token
    if (unsafe and method != "delete") or any(p["in"] != "path" and p["name"] != "page" for p in parameters):
        statuses.append("400")
    if "requestBody" in operation:
        statuses.append("415")
    if PATH_PARAM.search(path) or any(p["name"] == "page" for p in parameters):
        statuses.append("404")  # not yours, or a page past the end
    return statuses


def _tag(path: str) -> str:
    for prefix, tag in (
        ("/api/v1/auth/", "auth"),
        ("/api/v1/rooms/", "rooms"),
        ("/api/v1/generations/", "generations"),
        ("/api/v1/webhook-", "webhooks"),
        ("/media/", "media"),
    ):
        if path.startswith(prefix):
            return tag
    return "account"
