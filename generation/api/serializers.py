from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from billing.qualities import QUALITIES
from core.api import ApiError
from generation import plugins, presenter
from generation.models import Generation, Room
from generation.styles import PROMPT_MAX_CHARS, ROOM_TYPES, STYLE_BY_SLUG


class RoomSerializer(serializers.ModelSerializer):
    photo_url = serializers.SerializerMethodField()

    class Meta:
        model = Room
        fields = ["id", "name", "room_type", "photo_url", "width", "height", "created_at"]

    def get_photo_url(self, room: Room) -> str:
        return f"/media/rooms/{room.pk}/photo/"


class RoomCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    room_type = serializers.ChoiceField(choices=ROOM_TYPES)
    photo = serializers.FileField(allow_empty_file=False)

    def validate_photo(self, photo: Any) -> Any:
        if photo.size > settings.MAX_UPLOAD_BYTES:
            raise ApiError("file_too_large", f"The photo is larger than {settings.MAX_UPLOAD_BYTES // 2**20} MB.", 413)
        return photo


class GenerationCreateSerializer(serializers.Serializer):
    room = serializers.UUIDField()
    style = serializers.CharField(max_length=40)
    room_type = serializers.ChoiceField(choices=ROOM_TYPES, required=False)
    prompt = serializers.CharField(max_length=PROMPT_MAX_CHARS, required=False, allow_blank=True, default="")
    quality = serializers.ChoiceField(choices=QUALITIES, required=False, default="medium")
    n = serializers.IntegerField(min_value=1, max_value=4, required=False, default=1)
    callback_url = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text="The URL of one of your webhook endpoints: this generation's final event goes to it alone.",
    )
    accept_slow = serializers.BooleanField(
        required=False,
        default=False,
        help_text="If we are at capacity, wait in the slow lane (behind every other job, a deadline of hours) "
        "instead of a 503. A 503 `at_capacity` says in `slow_lane.estimated_wait_s` how long that would be.",
    )
    notify_email = serializers.BooleanField(
        required=False, default=False, help_text="Email me (my account's address) when it is done."
    )

    def validate_style(self, value: str) -> str:
        if value not in STYLE_BY_SLUG:
            raise serializers.ValidationError(f"Unknown style {value!r}; see /api/v1/styles/.")
        return value

    def validate_callback_url(self, value: str) -> str:
        return plugins.callback_url(self.context["request"].user, value) if value else ""


class GenerationSerializer(serializers.ModelSerializer):
    images = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    cost_usd = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=True)
    estimated_cost_usd = serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=True)
    stage_label = serializers.CharField(source="get_stage_display")
    charged = serializers.SerializerMethodField()

    class Meta:
        model = Generation
        fields = [
            "id",
            "room",
            "style",
            "room_type",
            "prompt",
            "quality",
            "size",
            "n",
            "status",
            "stage",
            "stage_label",
            "progress",
            "attempts",
            "provider",
            "model",
            "cost_usd",
            "estimated_cost_usd",
            "charged",
            "cached",
            "lane",
            "images",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_images(self, generation: Generation) -> list[str]:
        return presenter.image_urls(generation)

    def get_error(self, generation: Generation) -> dict[str, str] | None:
        return presenter.error_of(generation)

    def get_charged(self, generation: Generation) -> bool:
        return presenter.is_charged(generation)
