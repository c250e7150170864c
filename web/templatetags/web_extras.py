"""Small presentation helpers for the pages: names of styles and room types, status words, swatches."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from generation.styles import ROOM_TYPE_NAMES, STYLE_BY_SLUG, STYLES, Style

register = template.Library()

STATUS_WORDS = {
    "queued": "Queued",
    "running": "Running",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


@register.filter
def style_name(slug: str) -> str:
    style = STYLE_BY_SLUG.get(slug)
    return style.name if style else slug.replace("_", " ").title()


@register.filter
def room_type_name(slug: str) -> str:
    return ROOM_TYPE_NAMES.get(slug, slug.replace("_", " ").title())


@register.filter
def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status.title())


@register.filter
def swatch_gradient(slug: str) -> str:
    """A CSS gradient of the style's three colours, for cards and thumbnails."""
    style = STYLE_BY_SLUG.get(slug)
    if style is None:
        return "linear-gradient(135deg, #e7e2da, #cfc7bb)"
    first, second, third = style.swatch
    return f"linear-gradient(135deg, {first} 0%, {second} 55%, {third} 100%)"


@register.simple_tag
def style_catalogue() -> tuple[Style, ...]:
    return STYLES


@register.filter
def ago(moment: datetime) -> str:
    """'just now', '5 minutes ago', '2 days ago': the largest unit only."""
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment).split(',')[0]} ago"
