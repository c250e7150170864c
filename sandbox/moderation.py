"""`POST /v1/moderations`: a `CreateModerationResponse` that flags inputs containing a configured term."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .validation import ModerationInput

CATEGORIES = (
    "hate",
    "hate/threatening",
    "harassment",
    "harassment/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
# Categories the spec lets an image input apply to; the others apply to text only.
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)
# Which categories the default terms fall under; any other configured term is flagged as `violence`.
TERM_CATEGORIES = {"gore": ("violence", "violence/graphic"), "massacre": ("violence",), "nude": ("sexual",)}


def flagged_categories(text: str, terms: tuple[str, ...]) -> set[str]:
    """The categories of every configured term that `text` contains as a word, ignoring case."""
    found: set[str] = set()
    for term in terms:
        if re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE):
            found.update(TERM_CATEGORIES.get(term.lower(), ("violence",)))
    return found


def result(item: ModerationInput, terms: tuple[str, ...]) -> dict[str, Any]:
    """One `results[]` entry, with every category the spec requires."""
    hits = flagged_categories(item.text, terms) if item.kind == "text" else set()
    applies = ["image"] if item.kind == "image" else ["text"]
    return {
        "flagged": bool(hits),
        "categories": {name: name in hits for name in CATEGORIES},
        "category_scores": {name: 0.97 if name in hits else 0.0001 for name in CATEGORIES},
        "category_applied_input_types": {
            name: applies if item.kind == "text" or name in IMAGE_CATEGORIES else [] for name in CATEGORIES
        },
    }


def moderation_response(model: str, items: list[ModerationInput], terms: tuple[str, ...]) -> dict[str, Any]:
    return {"id": f"modr-{uuid.uuid4().hex}", "model": model, "results": [result(item, terms) for item in items]}
