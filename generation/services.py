"""Every state change a request asks for: create a job (reserving its money), generate again, refund.

Each writes its rows in one transaction and lets the rest follow once it commits: the job's message to the
workers, the event to the owner's pages. How a job ends is generation/finish.py; how it runs, generation/runtime/.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import pricing
from billing import services as billing
from core.api import ApiError
from core.counters import record_moderation
from generation import admission, events
from generation.cache import lookup
from generation.estimates import load_for, remember_snapshot
from generation.finish import announce_final, finish_followers
from generation.images import output_size_for
from generation.models import Generation, IdempotencyKey, Room
from generation.provider import moderation
from generation.provider.client import targets
from generation.provider.gates import reach
from generation.queue import messages
from generation.styles import build_prompt

log = logging.getLogger("generation")
Status = Generation.Status
Stage = Generation.Stage


def key_cutoff() -> Any:
    """Idempotency keys made before this have expired."""
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL_S)


def forget_expired_key(user: Any, key: str) -> None:
    IdempotencyKey.objects.filter(user=user, key=key, created_at__lt=key_cutoff()).delete()


def prune_idempotency_keys(batch: int = 5000) -> int:
    """Delete expired idempotency keys (the answers they replay hold a job's details); how many went."""
    expired = IdempotencyKey.objects.filter(created_at__lt=key_cutoff()).values_list("pk", flat=True)[:batch]
    deleted, _ = IdempotencyKey.objects.filter(pk__in=list(expired)).delete()
    if deleted:
        log.info("idempotency keys pruned count=%s", deleted)
    return deleted


def request_fingerprint(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def create_generation(
    user: Any,
    room: Room,
    *,
    style: str,
    room_type: str,
    prompt: str,
    quality: str,
    n: int,
    variant: int = 0,
    request_id: str = "",
    callback_url: str = "",
    accept_slow: bool = False,
    notify_email: bool = False,
) -> Generation:
    """Reserve quota and money and create the job in one transaction; it is enqueued once that commits.

    `accept_slow`: if the standard lane is full, wait in the slow lane rather than be refused (see admission.py).
    """
    screen_prompt(prompt)
    model = targets()[0].model
    with transaction.atomic():
        account = billing.lock_account(user)
        if settings.SIGNUP_EMAIL_VERIFICATION and not account.email_verified:
            # Scripted sign-ups must not harvest free quota (cache hits included): the first job waits for the link.
            raise ApiError(
                "email_unverified",
                "Confirm your email address first: follow the link we sent you at sign-up, then try again.",
                403,
            )
        tier = account.tier
        size = tier.fit_size(output_size_for(room.width, room.height))
        if quality not in tier.allowed_qualities:
            raise ApiError(
                "quality_not_allowed",
                f"The {tier.name} plan offers {', '.join(tier.allowed_qualities)} quality.",
                403 if quality in ("high",) else 400,
            )
        if n > tier.max_images:
            raise ApiError("too_many_images", f"The {tier.name} plan allows {tier.max_images} image(s) per request.")
        # A result already paid for is served before any limit on new work applies: it costs nothing.
        request: dict[str, Any] = {
            "style": style,
            "room_type": room_type,
            "prompt": prompt,
            "quality": quality,
            "size": size,
            "n": n,
            "variant": variant,
        }
        found = lookup.probe(user, room, tier, model=model, **request)
        if found.source is not None:
            return serve_cached(user, room, found, request_id=request_id, callback_url=callback_url)
        load = load_for(user.pk, tier.priority)
        if load.yours >= settings.MAX_QUEUED_PER_USER:
            error = ApiError(
                "too_many_in_flight",
                f"You already have {load.yours} generations waiting; try again when some finish.",
                429,
            )
            error.headers["Retry-After"] = "30"
            raise error
        admitted = admission.admit(tier, model, load, accept_slow=accept_slow)
        # Held at the most any target this tier may use (primary or fallback) can charge, `auto` at the highest.
        serving = targets()[: reach(tier.fallback_max_usd, size, quality, n)]
        full_prompt = build_prompt(style, room_type, prompt)
        estimate = pricing.hold_any([(t.provider, t.model) for t in serving], size, quality, n, prompt=full_prompt)
        generation = Generation.objects.create(
            owner=user,
            room=room,
            **request,
            queue=tier.queue,
            priority=tier.priority,
            model=model,
            estimated_cost_usd=estimate,
            request_id=request_id,
            callback_url=callback_url,
            lane=admitted.lane,
            notify_email=notify_email,
            deadline_at=timezone.now() + timedelta(seconds=admitted.deadline_s),
            **found.row_fields(),
        )
        remember_snapshot(generation, admitted.position, admitted.wait_s)
        billing.reserve(account, generation, estimate)
        if not follow(generation, found.leader):
            transaction.on_commit(lambda: messages.dispatch(generation.pk))
        events.publish(generation)
    log.info(
        "generation created gen=%s user=%s style=%s quality=%s n=%s queue=%s est_usd=%s",
        generation.pk,
        user.pk,
        style,
        quality,
        n,
        tier.queue,
        estimate,
    )
    return generation


def screen_prompt(prompt: str) -> None:
    """Refuse a prompt the provider's moderation flags (422), before anything is reserved or sent.

    Runs outside the transaction: no account lock is held while the provider answers. An empty prompt needs no check.
    """
    if not prompt.strip() or not settings.MODERATION_ENABLED:
        return
    try:
        verdict = moderation.moderate(prompt)
    except Exception as exc:
        record_moderation("unavailable")
        log.warning(
            "moderation unavailable: %s; %s",
            type(exc).__name__,
            "refused" if settings.MODERATION_FAIL_CLOSED else "let through",
        )
        if settings.MODERATION_FAIL_CLOSED:
            error = ApiError(
                "moderation_unavailable",
                "We could not check your description just now, so nothing was started or charged. "
                "Please try again in a minute, or leave the description empty.",
                503,
            )
            error.headers["Retry-After"] = "30"
            raise error from exc
        return
    if not verdict.flagged:
        record_moderation("passed")
        return
    record_moderation("flagged")
    log.info("prompt refused by moderation categories=%s", ",".join(verdict.categories))
    raise ApiError(
        "content_policy",
        f"Your description was refused by our safety check: it reads as {verdict.in_words()}. "
        "Please describe the room differently. Nothing was charged.",
        422,
        categories=list(verdict.categories),
    )


def create_variant(previous: Generation, *, request_id: str = "") -> Generation:
    """Ask again for the same room, style and options: a new picture on purpose, so the cache is bypassed."""
    room = previous.room
    if room is None:
        raise ApiError("room_not_found", "The room of this generation was deleted.", 404)
    siblings = Generation.objects.filter(owner_id=previous.owner_id, room=room, style=previous.style)
    latest = siblings.order_by("-variant").values_list("variant", flat=True).first() or 0
    return create_generation(
        previous.owner,
        room,
        style=previous.style,
        room_type=previous.room_type,
        prompt=previous.prompt,
        quality=previous.quality,
        n=previous.n,
        variant=latest + 1,
        request_id=request_id,
        callback_url=previous.callback_url,  # the same integration hears about the new variant
    )


def refund(generation: Generation, *, actor: Any, note: str = "") -> bool:
    """Give back a captured charge (support action), once: the ledger's refund, and the job no longer charged."""
    with transaction.atomic():
        # The generation's row first, then the account: the order every settlement takes, so none deadlock.
        list(Generation.objects.select_for_update().filter(pk=generation.pk).values_list("pk", flat=True))
        if not billing.refund(generation, actor=actor, note=note):
            return False
        Generation.objects.filter(pk=generation.pk, billing_state=Generation.Billing.CAPTURED).update(
            billing_state=Generation.Billing.RELEASED
        )
    log.info("generation refunded gen=%s actor=%s", generation.pk, getattr(actor, "pk", None))
    return True


# The result cache (generation/cache/) ------------------------------------------------------------


def serve_cached(user: Any, room: Room, found: lookup.Probe, *, request_id: str, callback_url: str) -> Generation:
    """Create the job already finished from an earlier result: no provider call, no charge, no quota used."""
    source = found.source
    assert source is not None
    now = timezone.now()
    generation = Generation.objects.create(
        owner=user,
        room=room,
        **found.request,
        status=Status.SUCCEEDED,
        stage=Stage.DONE,
        progress=100,
        provider=source.provider,
        model=source.model,
        billing_state=Generation.Billing.RELEASED,
        cached=True,
        cached_from=source,
        images=list(source.images),
        request_id=request_id,
        callback_url=callback_url,
        started_at=now,
        finished_at=now,
        deadline_at=now,
    )
    announce_final(generation)
    log.info("generation served from cache gen=%s source=%s kind=%s", generation.pk, source.pk, found.kind)
    return generation


def follow(generation: Generation, leader: Generation | None) -> bool:
    """Let the new job wait for an identical one in flight instead of calling the provider a second time."""
    if leader is None:
        return False
    # Never dispatched, and hidden from the sweeper's re-dispatch until its deadline: the leader's end settles it.
    Generation.objects.filter(pk=generation.pk).update(cached_from=leader, not_before=generation.deadline_at)
    generation.cached_from, generation.not_before = leader, generation.deadline_at
    leader_id = leader.pk
    # The leader may have ended before this commits: look again once it has (finish_followers is idempotent).
    transaction.on_commit(lambda: finish_followers(leader_id), robust=True)
    log.info("generation follows gen=%s leader=%s", generation.pk, leader_id)
    return True
