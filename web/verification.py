"""Email verification of new sign-ups (SIGNUP_EMAIL_VERIFICATION): a signed link that expires, no table."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.urls import reverse

SALT = "interiorai.signup.verify"


def link_for(user: Any) -> str:
    """The link that confirms this user's current address (it stops working if the address changes)."""
    token = signing.dumps({"user": user.pk, "email": user.email}, salt=SALT)
    return settings.SITE_URL.rstrip("/") + reverse("verify-email", args=[token])


def send_link(user: Any) -> None:
    send_mail(
        "Confirm your email for InteriorAI",
        f"Welcome to InteriorAI!\n\nConfirm your address to start redesigning rooms:\n{link_for(user)}\n\n"
        "If you did not sign up, ignore this message.",
        None,
        [user.email],
    )


def user_for(token: str) -> Any | None:
    """The user a link was made for, if it is genuine, recent and still names their address."""
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.SIGNUP_VERIFY_MAX_AGE_S)
    except signing.BadSignature:
        return None
    user = get_user_model().objects.filter(pk=data.get("user")).first()
    return user if user is not None and user.email == data.get("email") else None
