from __future__ import annotations

import json
from typing import Any

from django.core.files.storage import default_storage
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponseRedirect
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.services import ensure_account, lock_account
from core.api import ApiError
from core.throttle import WorkRateThrottle
from generation import finish, presenter, privacy, rooms, services
from generation.api.serializers import (
    GenerationCreateSerializer,
    GenerationSerializer,
    RoomCreateSerializer,
    RoomSerializer,
)
from generation.models import Generation, IdempotencyKey, Room
from generation.styles import catalogue


def owned_rooms(request: Request) -> QuerySet[Room]:
    return Room.objects.filter(owner=request.user)


def owned_generations(request: Request) -> QuerySet[Generation]:
    return Generation.objects.filter(owner=request.user)


class StylesView(APIView):
    @extend_schema(summary="The styles, room types and qualities on offer")
    def get(self, request: Request) -> Response:
        return Response(catalogue())


class RoomViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = RoomSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self) -> QuerySet[Room]:
        return owned_rooms(self.request)

    @extend_schema(request=RoomCreateSerializer, responses={201: RoomSerializer})
    def create(self, request: Request) -> Response:
        # The body's size was bounded before Django read it (core/bodylimit.py, settings.UPLOAD_REQUEST_MAX_BYTES).
        form = RoomCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["photo"]
        room = rooms.create_room(
            request.user,
            name=form.validated_data["name"] or "My room",
            room_type=form.validated_data["room_type"],
            photo_bytes=upload.read(),
        )
        return Response(RoomSerializer(room).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Room) -> None:
        rooms.delete_room(instance)


class GenerationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = GenerationSerializer
    # Work that costs us even when it is free to the user (a cache hit, a cancel) counts against a rate of creates.
    WORK_ACTIONS = ("create", "cancel", "again")

    def get_throttles(self) -> list[Any]:
        throttles = super().get_throttles()
        return [*throttles, WorkRateThrottle()] if self.action in self.WORK_ACTIONS else throttles

    def get_queryset(self) -> QuerySet[Generation]:
        return owned_generations(self.request)

    @extend_schema(request=GenerationCreateSerializer, responses={202: GenerationSerializer})
    def create(self, request: Request) -> Response:
        form = GenerationCreateSerializer(data=request.data, context={"request": request})
        form.is_valid(raise_exception=True)
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return self._create(request, form.validated_data)
        if len(key) > 255:
            raise ApiError("invalid", "Idempotency-Key must be at most 255 characters.")
        fingerprint = services.request_fingerprint(form.validated_data)
        # The key's record, the job and the answer commit together: a crash leaves either all or nothing. A second
        # request with the same key waits on the record's unique index until the first commits, then replays it.
        with transaction.atomic():
            services.forget_expired_key(request.user, key)  # a key older than IDEMPOTENCY_KEY_TTL_S starts afresh
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(user=request.user, key=key, fingerprint=fingerprint)
            except IntegrityError:
                return self._replay(request, key, fingerprint)
            response = self._create(request, form.validated_data)
            record.response_status = response.status_code
            record.response_body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            record.generation_id = response.data["id"]
            record.save(update_fields=["response_status", "response_body", "generation"])
        return response

    def _replay(self, request: Request, key: str, fingerprint: str) -> Response:
        existing = IdempotencyKey.objects.get(user=request.user, key=key)
        if existing.fingerprint != fingerprint:
            raise ApiError("idempotency_key_reused", "This Idempotency-Key was used with a different request.", 422)
        replay = Response(existing.response_body, status=existing.response_status)
        replay["Idempotent-Replayed"] = "true"
        return replay

    def _create(self, request: Request, data: dict[str, Any]) -> Response:
        room = owned_rooms(request).filter(pk=data["room"]).first()
        if room is None:
            raise ApiError("room_not_found", "No such room.", 404)
        generation = services.create_generation(
            request.user,
            room,
            style=data["style"],
            room_type=data.get("room_type") or room.room_type,
            prompt=data["prompt"],
            quality=data["quality"],
            n=data["n"],
            request_id=getattr(request, "request_id", ""),
            callback_url=data["callback_url"],
            accept_slow=data["accept_slow"],
            notify_email=data["notify_email"],
        )
        return Response(self.accepted_body(generation), status=status.HTTP_202_ACCEPTED)

    def accepted_body(self, generation: Generation) -> dict[str, Any]:
        # A request served from the cache is already done: nothing to wait for (position 0, wait 0).
        return {
            **GenerationSerializer(generation).data,
            "position": 0,
            "estimated_wait_s": 0,
            **presenter.queue_position(generation),
        }

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        generation = self.get_object()
        return Response({**GenerationSerializer(generation).data, **presenter.queue_position(generation)})

    @extend_schema(
        summary="Delete a generation and its images (a queued one is cancelled first)",
        description="409 `already_rendering` while the image model has it: delete it once it has finished.",
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance: Generation) -> None:
        privacy.delete_generation(instance)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        generation = self.get_object()
        if not finish.cancel(generation) and not generation.is_final:
            raise ApiError("conflict", "The generation could not be cancelled; try again.", 409)
        generation.refresh_from_db()
        if generation.status != Generation.Status.CANCELLED:
            raise ApiError("already_finished", f"The generation already {generation.status}.", 409)
        return Response(GenerationSerializer(generation).data)

    @action(detail=True, methods=["post"])
    def again(self, request: Request, pk: str | None = None) -> Response:
        """Generate a new variant of the same request (bypasses the result cache on purpose)."""
        generation = services.create_variant(self.get_object(), request_id=getattr(request, "request_id", ""))
        return Response(self.accepted_body(generation), status=status.HTTP_202_ACCEPTED)


class UsageView(APIView):
    def get(self, request: Request) -> Response:
        account = ensure_account(request.user)
        if timezone.now() >= account.period_end:
            with transaction.atomic():
                account = lock_account(request.user)  # rolls the period over
        return Response(
            {
                "tier": account.tier.slug,
                "tier_name": account.tier.name,
                "period_start": account.period_start,
                "period_end": account.period_end,
                "generations_used": account.generations_used,
                "generations_reserved": account.reserved_generations,
                "generations_limit": account.generations_limit,
                "spend_usd": f"{account.spend_usd:.4f}",
                "reserved_usd": f"{account.reserved_usd:.4f}",
                "budget_usd": f"{account.budget_usd:.4f}",
                "max_in_flight": account.tier.max_in_flight,
                "allowed_qualities": account.tier.allowed_qualities,
                "max_images": account.tier.max_images,
            }
        )


class AccountDeleteSerializer(serializers.Serializer):
    confirm = serializers.CharField(max_length=150, help_text="Your username, to confirm.")


ACCOUNT_DELETING = inline_serializer(
    "AccountDeleting", {"status": serializers.CharField(), "message": serializers.CharField()}
)


class AccountView(APIView):
    @extend_schema(
        summary="Delete your account and all your data",
        description=(
            "Your tokens and sessions stop working at once and your open pages are disconnected; queued jobs are "
            "cancelled, uncharged; every photo, result and row of yours is erased (the ledger keeps anonymous "
            "entries for accounting). 204 when done; 202 while a job the image model is already rendering "
            "finishes (it is charged), after which the erasure completes by itself."
        ),
        request=AccountDeleteSerializer,
        responses={204: None, 202: ACCOUNT_DELETING},
    )
    def delete(self, request: Request) -> Response:
        form = AccountDeleteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        if form.validated_data["confirm"] != request.user.get_username():
            raise ApiError("confirmation_mismatch", "To delete your account, send your username as `confirm`.")
        if privacy.close_account(request.user):
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(
            {"status": "deleting", "message": "Your account is closed; its data is erased once its last job ends."},
            status=status.HTTP_202_ACCEPTED,
        )


class AccountExportView(APIView):
    @extend_schema(
        summary="Download all your data: photos, results and one JSON file",
        responses={(200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The zip.")},
    )
    def get(self, request: Request) -> FileResponse:
        name = f"interiorai-{request.user.get_username()}-{timezone.now():%Y%m%d}.zip"
        return FileResponse(
            privacy.export_account(request.user), as_attachment=True, filename=name, content_type="application/zip"
        )


class MediaView(APIView):
    """Room photos and results, only for their owner: streamed, or redirected to a signed, expiring URL."""

    def get(self, request: Request, pk: str, index: int | None = None) -> Any:
        name = self.storage_name(request, pk, index)
        if name is None:
            raise ApiError("not_found", "Not found.", 404)
        try:
            default_storage.path(name)
        except NotImplementedError:
            return HttpResponseRedirect(default_storage.url(name))
        if not default_storage.exists(name):
            raise ApiError("not_found", "Not found.", 404)
        response = FileResponse(default_storage.open(name, "rb"), content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=3600"
        return response

    def storage_name(self, request: Request, pk: str, index: int | None) -> str | None:
        if index is None:
            room = owned_rooms(request).filter(pk=pk).only("photo").first()
            return room.photo.name if room else None
        generation = owned_generations(request).filter(pk=pk).only("images").first()
        if generation is None or index >= len(generation.images):
            return None
        return str(generation.images[index])
