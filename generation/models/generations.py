"""Generations and one row per provider call: the source of truth for every job and its money."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from generation.models.rooms import Room
from generation.styles import ROOM_TYPES


class Generation(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Stage(models.TextChoices):
        QUEUED = "queued", "Waiting in the queue"
        WAITING = "waiting_for_capacity", "Waiting for model capacity"
        CALLING = "calling_model", "Redesigning your room"
        RETRYING = "retrying", "Retrying after a hiccup"
        STORING = "storing", "Saving your images"
        DONE = "done", "Done"

    class Billing(models.TextChoices):
        RESERVED = "reserved"
        CAPTURED = "captured"
        RELEASED = "released"

    class Lane(models.TextChoices):
        STANDARD = "standard"
        SLOW = "slow", "Slow lane: rides in the gaps, with a deadline of hours"

    FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    room = models.ForeignKey(Room, null=True, on_delete=models.SET_NULL, related_name="generations")
    style = models.CharField(max_length=40)
    room_type = models.CharField(max_length=30, choices=ROOM_TYPES)
    prompt = models.TextField(blank=True)
    quality = models.CharField(max_length=10, default="medium")
    size = models.CharField(max_length=12, default="auto")
    n = models.PositiveSmallIntegerField(default=1)
    variant = models.PositiveIntegerField(default=0, help_text="Bumped by 'generate again' to bypass the cache.")

    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(max_length=24, choices=Stage.choices, default=Stage.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Provider calls made for this job.")
    cancel_requested = models.BooleanField(default=False)

    lane = models.CharField(max_length=10, choices=Lane.choices, default=Lane.STANDARD)
    notify_email = models.BooleanField(default=False, help_text="Email the owner when it ends.")
    queue = models.CharField(max_length=40, default="gen.standard")
    priority = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(max_length=40, blank=True)
    model = models.CharField(max_length=60, blank=True)

    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    billing_state = models.CharField(max_length=10, choices=Billing.choices, default=Billing.RESERVED)
    cached = models.BooleanField(default=False)
    cache_key = models.CharField(max_length=64, blank=True, db_index=True)
    cached_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Every input but the prompt: near-duplicate prompts are only compared within one scope.
    cache_scope = models.CharField(max_length=64, blank=True, db_index=True)
    prompt_embedding = models.BinaryField(null=True, blank=True, editable=False, help_text="float32 sentence vector.")
    images = models.JSONField(default=list, blank=True, help_text="Storage names of the result images.")

    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=300, blank=True)

    request_id = models.CharField(max_length=64, blank=True)
    callback_url = models.CharField(max_length=2000, blank=True, help_text="Only this webhook endpoint hears of it.")
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True, help_text="Last time waiting moved it up a tier.")
    dispatched_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Not a column: a worker's claim sets it when the job had been claimed before, so it already stood in line
    # (it waited for a slot, or made a call that failed) and keeps its place there if it must wait again.
    stood_in_line = False

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "queue", "created_at"]),
            # Queue positions and "is a higher tier waiting?" count queued rows by priority.
            models.Index(fields=["status", "priority", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.style} for {self.room_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class ProviderCall(models.Model):
    """One HTTP call to the image provider, written before it is sent so none goes uncounted."""

    class Outcome(models.TextChoices):
        IN_FLIGHT = "in_flight"
        SUCCESS = "success"
        RETRYABLE = "retryable"
        FATAL = "fatal"
        UNKNOWN = "unknown"

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="calls")
    attempt = models.PositiveSmallIntegerField()
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=60)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.IN_FLIGHT)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=60, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal("0"))
    provider_request_id = models.CharField(max_length=100, blank=True)
    # An asynchronous provider's job ids (Replicate's predictions), written as soon as each is created and before any
    # waiting: a worker that dies meanwhile is followed by one that polls these instead of paying for new ones.
    prediction_ids = models.JSONField(default=list, blank=True)
    # What the provider reported it billed: OpenAI's tokens, Replicate's images and run time (billing.pricing.Usage).
    usage = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["generation", "attempt"]
        constraints = [models.UniqueConstraint(fields=["generation", "attempt"], name="one_call_per_attempt")]

    def __str__(self) -> str:
        return f"{self.generation_id} #{self.attempt} {self.outcome}"


class IdempotencyKey(models.Model):
    """The first response to a create request, replayed for retries that carry the same key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    generation = models.ForeignKey(Generation, null=True, on_delete=models.SET_NULL, related_name="+")
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_idempotency_key_per_user")]

    def __str__(self) -> str:
        return self.key
