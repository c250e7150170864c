"""Webhook endpoints and deliveries: every state change of them happens here.

A generation's final state and its deliveries commit in one transaction (the delivery rows are the
outbox); the Celery message that sends them goes out after commit and carries the delivery's id only.
If that message is lost, the sweeper finds the row and sends it again; claiming with a conditional
update makes a duplicate message harmless.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.api import ApiError
from developers import conf, netguard, signing
from developers.models import WebhookDelivery, WebhookEndpoint
from generation.api.serializers import GenerationSerializer

log = logging.getLogger("developers")

DELIVER_TASK = "webhooks.deliver"
# Deliveries have a queue and workers of their own: however slow the receivers, no generation slot waits on them.
DELIVER_QUEUE = "webhooks"
GENERATION_SUCCEEDED = "generation.succeeded"
GENERATION_FAILED = "generation.failed"
GENERATION_CANCELLED = "generation.cancelled"
EVENT_TYPES = (GENERATION_SUCCEEDED, GENERATION_FAILED, GENERATION_CANCELLED)
EVENT_FOR_STATUS = {"succeeded": GENERATION_SUCCEEDED, "failed": GENERATION_FAILED, "cancelled": GENERATION_CANCELLED}

# Longer waits are left to the sweeper: a Redis message held past the broker's visibility timeout is redelivered.
MAX_COUNTDOWN_S = 300.0
REDISPATCH_AFTER = timedelta(seconds=60)
LEASE_MARGIN = timedelta(seconds=30)
MAX_LOG_ENTRIES = 50
SWEEP_BATCH = 200
Status = WebhookDelivery.Status
Reason = WebhookEndpoint.DisabledReason


# Endpoints ---------------------------------------------------------------------------------------------


def create_endpoint(user: Any, url: str, description: str = "") -> WebhookEndpoint:
    """Register an endpoint for a URL that was already checked (see `check_url`), with a fresh secret."""
    with transaction.atomic():
        # Lock the user's row so two requests cannot both take the last free slot.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if WebhookEndpoint.objects.filter(user=user).count() >= conf.max_endpoints():
            raise ApiError("too_many_endpoints", f"You can register at most {conf.max_endpoints()} webhook endpoints.")
        try:
            with transaction.atomic():
                endpoint = WebhookEndpoint.objects.create(
                    user=user, url=url, description=description, secret=signing.new_secret()
                )
        except IntegrityError as exc:
            raise ApiError("duplicate_endpoint", "You already have an endpoint for this URL.") from exc
    log.info("webhook endpoint created endpoint=%s user=%s", endpoint.pk, user.pk)
    return endpoint


def check_url(url: str) -> str:
    """The URL in its normal form if webhooks may call it; raises netguard.Refused otherwise."""
    target, _ = netguard.check(url.strip())
    return target.url


def rotate_secret(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Give the endpoint a new secret; the old one keeps signing (as a second signature) for a while."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_expires_at = timezone.now() + conf.previous_secret_ttl()
        locked.secret = signing.new_secret()
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    log.info("webhook secret rotated endpoint=%s", endpoint.pk)
    return locked


def disable_endpoint(endpoint: WebhookEndpoint, reason: str = Reason.USER) -> bool:
    disabled = (
        WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True).update(
            active=False, disabled_reason=reason, disabled_at=timezone.now()
        )
        == 1
    )
    if disabled:
        log.info("webhook endpoint disabled endpoint=%s reason=%s", endpoint.pk, reason)
    return disabled


def enable_endpoint(endpoint: WebhookEndpoint) -> bool:
    """Switch the endpoint back on with a clean failure record."""
    return (
        WebhookEndpoint.objects.filter(pk=endpoint.pk, active=False).update(
            active=True, disabled_reason="", disabled_at=None, consecutive_failures=0, failing_since=None
        )
        == 1
    )


def delete_endpoint(endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint and its delivery log; messages already queued for it find nothing to send."""
    endpoint.delete()
    log.info("webhook endpoint deleted endpoint=%s", endpoint.pk)


# Events -----------------------------------------------------------------------------------------------


def event_body(event_type: str, generation: Any) -> str:
    """The event as Standard Webhooks suggests: {type, timestamp, data}, data the generation as the API shows it."""
    event = {"type": event_type, "timestamp": timezone.now(), "data": GenerationSerializer(generation).data}
    return json.dumps(event, cls=DjangoJSONEncoder, separators=(",", ":"))


def on_generation_finished(sender: Any, generation: Any, **_: Any) -> None:
    """Receiver of generation.signals.generation_finished (connected in DevelopersConfig.ready)."""
    enqueue_for_generation(generation)


def enqueue_for_generation(generation: Any) -> list[WebhookDelivery]:
    """Record the final state's event for each endpoint that should hear of it, and send them once it commits.

    A generation that names a callback_url is announced to that endpoint only; otherwise to every active
    endpoint of its owner. Runs inside the transaction that ends the generation: the delivery rows are its outbox.
    """
    event_type = EVENT_FOR_STATUS.get(generation.status)
    if event_type is None:
        return []
    try:
        # A savepoint: trouble here must never undo the generation's own final state.
        with transaction.atomic():
            endpoints = WebhookEndpoint.objects.filter(user_id=generation.owner_id, active=True)
            if generation.callback_url:
                endpoints = endpoints.filter(url=generation.callback_url)
            endpoint_ids = list(endpoints.values_list("pk", flat=True))
            if not endpoint_ids:
                return []
            body = event_body(event_type, generation)
            now = timezone.now()
            deliveries = WebhookDelivery.objects.bulk_create(
                [
                    WebhookDelivery(
                        endpoint_id=endpoint_id,
                        generation_id=generation.pk,
                        event_type=event_type,
                        message_id=new_message_id(),
                        payload=body,
                        next_attempt_at=now,
                    )
                    for endpoint_id in endpoint_ids
                ]
            )
    except Exception:
        log.exception("webhook deliveries not recorded gen=%s", generation.pk)
        return []
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: [dispatch(delivery_id) for delivery_id in ids])
    log.info("webhook event queued gen=%s type=%s endpoints=%s", generation.pk, event_type, len(ids))
    return deliveries


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


# Sending ----------------------------------------------------------------------------------------------


def dispatch(delivery_id: uuid.UUID | str, countdown: float = 0) -> bool:
    """Queue one attempt on the webhooks queue; if the broker is down the sweeper sends it later."""
    try:
        current_app.send_task(
            DELIVER_TASK, (str(delivery_id),), queue=DELIVER_QUEUE, countdown=countdown or None, retry=False
        )
    except Exception:
        log.warning("webhook dispatch failed delivery=%s; the sweeper will retry", delivery_id, exc_info=True)
        return False
    # When the message should be picked up: the sweeper sends it again only if that passes unnoticed.
    picked_up_by = timezone.now() + timedelta(seconds=countdown)
    WebhookDelivery.objects.filter(pk=delivery_id).update(dispatched_at=picked_up_by)
    return True


class EndpointBusy(Exception):
    """Another delivery to the same endpoint is in flight: this one waits its turn."""


def claim(delivery_id: str) -> WebhookDelivery | None:
    """Take a due delivery for one attempt; None if it is not due, finished, or another worker has it.

    Raises EndpointBusy while another delivery to its endpoint is being sent: one request in flight per endpoint,
    so a slow receiver holds one webhook slot, not all of them. The endpoint's row is locked while this is decided.
    """
    now = timezone.now()
    lease = now + timedelta(seconds=conf.send_timeout_s()) + LEASE_MARGIN
    try:
        uuid.UUID(str(delivery_id))
    except ValueError:
        return None
    endpoint_id = WebhookDelivery.objects.filter(pk=delivery_id).values_list("endpoint_id", flat=True).first()
    if endpoint_id is None:
        return None
    with transaction.atomic():
        list(WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).values_list("pk", flat=True))
        sending = WebhookDelivery.objects.filter(endpoint_id=endpoint_id, locked_until__gt=now).exclude(pk=delivery_id)
        if sending.exists():
            raise EndpointBusy
        claimed = (
            WebhookDelivery.objects.filter(
                pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now + timedelta(seconds=1)
            )
            .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
            .update(locked_until=lease, attempts=F("attempts") + 1)
        )
    if claimed != 1:
        return None
    return WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)


def deliver(delivery_id: str) -> str | None:
    """Make one attempt at a delivery and record it; returns the delivery's status afterwards, or None."""
    try:
        delivery = claim(delivery_id)
    except EndpointBusy:
        # It waits for the delivery in flight to hand over (dispatch_next), not in a loop of messages; should that
        # hand-over be lost, the sweeper sends it once this stamp is old.
        WebhookDelivery.objects.filter(pk=delivery_id).update(dispatched_at=timezone.now())
        return None
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    if not endpoint.active:
        entry = {"attempt": delivery.attempts, "at": timezone.now().isoformat(), "error": "endpoint disabled"}
        _finish(delivery, Status.FAILED, entry)
        dispatch_next(endpoint.pk)
        return Status.FAILED
    answer = send(endpoint, delivery)
    status = record(delivery, answer)
    dispatch_next(endpoint.pk)
    return status


def dispatch_next(endpoint_id: uuid.UUID) -> None:
    """Hand the endpoint's turn to its next due delivery: one request in flight per endpoint, in order."""
    now = timezone.now()
    waiting = (
        WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is not None:
        dispatch(waiting)


def send(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> netguard.Answer:
    """POST the delivery's exact body, signed with a timestamp of now; the webhook-id never changes."""
    body = delivery.payload.encode()
    now = timezone.now()
    headers = signing.headers_for(endpoint.signing_secrets(now), delivery.message_id, int(now.timestamp()), body)
    headers["User-Agent"] = "InteriorAI-Webhooks/1.0"
    try:
        return netguard.post(endpoint.url, body, headers, timeout=conf.send_timeout_s())
    except Exception as exc:  # a bug in sending must still leave a log entry and a retry, not a stuck row
        log.exception("webhook send crashed delivery=%s", delivery.pk)
        return netguard.Answer(error=f"internal error: {type(exc).__name__}")


def record(delivery: WebhookDelivery, answer: netguard.Answer) -> str:
    """Write the attempt to the log, then succeed, schedule a retry, or give up (and maybe disable the endpoint)."""
    now = timezone.now()
    entry = {
        "attempt": delivery.attempts,
        "at": now.isoformat(),
        "status_code": answer.status,
        "error": answer.error,
        "duration_ms": answer.duration_ms,
        "address": answer.address,
        "response": answer.body[:500],
    }
    endpoint = delivery.endpoint
    if answer.status is not None and 200 <= answer.status < 300:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            consecutive_failures=0, failing_since=None, last_success_at=now
        )
        _finish(delivery, Status.SUCCEEDED, entry)
        log.info("webhook delivered delivery=%s status=%s", delivery.pk, answer.status)
        return Status.SUCCEEDED
    if answer.status is not None and 300 <= answer.status < 400:
        entry["error"] = "redirects are not followed; answer with a 2xx status"
    _count_failure(endpoint, now)
    schedule = conf.retry_schedule()
    gone = answer.status == 410
    if gone:
        disable_endpoint(endpoint, Reason.GONE)
    if gone or delivery.attempts > len(schedule):
        _finish(delivery, Status.FAILED, entry)
        log.info("webhook gave up delivery=%s attempts=%s status=%s", delivery.pk, delivery.attempts, answer.status)
        return Status.FAILED
    delay = schedule[delivery.attempts - 1] * random.uniform(1.0, 1.1)  # jitter spreads a burst of retries
    _retry_later(delivery, entry, now + timedelta(seconds=delay), delay)
    log.info("webhook attempt failed delivery=%s attempt=%s retry_in_s=%.1f", delivery.pk, delivery.attempts, delay)
    return Status.PENDING


def _count_failure(endpoint: WebhookEndpoint, now: datetime) -> None:
    """Count a failed attempt; switch the endpoint off once it has failed long enough and often enough."""
    rows = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    rows.update(consecutive_failures=F("consecutive_failures") + 1, failing_since=Coalesce("failing_since", now))
    counts = rows.values("consecutive_failures", "failing_since").first()
    if counts is None:
        return  # deleted meanwhile
    failing_for = now - (counts["failing_since"] or now)
    if counts["consecutive_failures"] >= conf.disable_after_failures() and failing_for >= conf.disable_after():
        disable_endpoint(endpoint, Reason.FAILING)


def _appended(delivery: WebhookDelivery, entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [*delivery.log, entry][-MAX_LOG_ENTRIES:]


def _write_attempt(delivery: WebhookDelivery, entry: dict[str, Any], **fields: Any) -> bool:
    """Log the attempt and release the claim; False if the delivery was deleted (with its endpoint) meanwhile."""
    written = WebhookDelivery.objects.filter(pk=delivery.pk).update(
        log=_appended(delivery, entry),
        last_status_code=entry.get("status_code"),
        last_error=(entry.get("error") or "")[:300],
        locked_until=None,
        **fields,
    )
    return written == 1


def _finish(delivery: WebhookDelivery, status: str, entry: dict[str, Any]) -> None:
    _write_attempt(delivery, entry, status=status, next_attempt_at=None, finished_at=timezone.now())


def _retry_later(delivery: WebhookDelivery, entry: dict[str, Any], when: datetime, delay: float) -> None:
    if _write_attempt(delivery, entry, next_attempt_at=when, dispatched_at=None) and delay <= MAX_COUNTDOWN_S:
        dispatch(delivery.pk, countdown=delay)


def replay(delivery: WebhookDelivery) -> bool:
    """Send a finished delivery again, same webhook-id, with a fresh set of retries; False if it is still pending."""
    if not WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, active=True).exists():
        raise ApiError("endpoint_disabled", "The endpoint is disabled; enable it before replaying.", 409)
    with transaction.atomic():
        replayed = (
            WebhookDelivery.objects.filter(pk=delivery.pk, status__in=[Status.SUCCEEDED, Status.FAILED]).update(
                status=Status.PENDING, attempts=0, next_attempt_at=timezone.now(), finished_at=None, dispatched_at=None
            )
            == 1
        )
        if replayed:
            transaction.on_commit(lambda: dispatch(delivery.pk))
    if replayed:
        log.info("webhook replay requested delivery=%s", delivery.pk)
    return replayed


# The sweeper ------------------------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Send due deliveries whose message was lost or never sent; forget deliveries older than the retention."""
    now = timezone.now()
    due = (
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .filter(Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=now - REDISPATCH_AFTER))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    sent = sum(dispatch(delivery_id) for delivery_id in list(due))
    old = WebhookDelivery.objects.filter(created_at__lt=now - conf.log_retention()).exclude(status=Status.PENDING)
    deleted, _ = WebhookDelivery.objects.filter(pk__in=list(old.values_list("pk", flat=True)[:1000])).delete()
    return {"dispatched": sent, "deleted": deleted}
