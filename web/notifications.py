"""Email a user whose job asked for it (`notify_email`) when it ends: a slow-lane job may take hours."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from generation.models import Generation

log = logging.getLogger(__name__)
SUBJECTS = {
    Generation.Status.SUCCEEDED: "Your redesign is ready",
    Generation.Status.FAILED: "Your redesign could not be made",
    Generation.Status.CANCELLED: "Your redesign was cancelled",
}


def on_generation_finished(sender: Any, generation: Generation, **_: Any) -> None:
    """Receiver of generation.signals.generation_finished (connected in WebConfig.ready)."""
    if generation.notify_email:
        generation_id = generation.pk
        transaction.on_commit(lambda: send_notice(generation_id), robust=True)


def send_notice(generation_id: object) -> None:
    generation = Generation.objects.select_related("owner").filter(pk=generation_id).first()
    if generation is None or not generation.owner.email:
        return
    link = f"{settings.SITE_URL}/generations/{generation.pk}/"
    if generation.status == Generation.Status.SUCCEEDED:
        body = f"Your {generation.style} redesign is ready: {link}\n"
    elif generation.status == Generation.Status.FAILED:
        body = f"We could not make your {generation.style} redesign, and you were not charged. {link}\n"
    else:
        body = f"Your {generation.style} redesign was cancelled; you were not charged. {link}\n"
    try:
        send_mail(SUBJECTS[generation.status], body, settings.DEFAULT_FROM_EMAIL, [generation.owner.email])
    except Exception:  # a courtesy: a mail outage must never touch the job
        log.warning("notice email failed gen=%s", generation.pk, exc_info=True)
