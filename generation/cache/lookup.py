"""The result cache: a request whose inputs match an earlier result is served from it, never paid for twice.

Three layers, cheapest first, each scoped to the user (or, with CACHE_SHARE_ACROSS_USERS on, to whoever
uploaded the same photo bytes, since the photo's hash is part of every key):

- exact: the key hashes the photo, style, room type, model, size, quality, n, variant and the prompt's
  canonical form, so prompts that differ only in case, punctuation, order or filler words hit;
- semantic: within one scope (every input but the prompt), an earlier prompt whose sentence embedding is
  at least CACHE_SEMANTIC_THRESHOLD close and that names the same attributes on the same objects;
- coalescing: a request matching one still queued or running waits for it instead of calling again.

Sentence embeddings barely see the words that change a picture most ("light oak floors" and "dark oak
floors" score 0.92, "modern minimalist, light oak" and "… dark oak" 0.96), so the semantic layer compares
only prompts with the same colours, materials, sizes, negations, numbers and positions, bound to the same
objects; the model judges the rest of the wording. A false miss costs one provider call; a false hit gives
someone the wrong picture.

Lookups read only one scope (the `cache_scope` index): one user's prompts for one photo, style and
setting, at most SEMANTIC_CANDIDATES of them, so they cost the same however large the cache grows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from core.counters import record_cache
from generation.cache.embedder import EMBEDDER, from_bytes, to_bytes
from generation.cache.prompts import comparable, form, key_of, plain, scope_of
from generation.models import Generation

log = logging.getLogger("generation")
Status = Generation.Status
SEMANTIC_CANDIDATES = 32


def scope_for(generation: Generation) -> str:
    room = generation.room
    if room is None:
        return ""  # a result whose photo is gone serves nobody
    return scope_of(
        room.photo_sha256,
        generation.style,
        generation.room_type,
        generation.model,
        generation.size,
        generation.quality,
        generation.n,
        generation.variant,
    )


def key_for(generation: Generation) -> str:
    scope = scope_for(generation)
    return key_of(scope, generation.prompt) if scope else ""


class Matcher:
    """Finds a candidate that asks for the same picture in other words; embeds only when one is comparable."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.vector: np.ndarray | None = None

    def comparable(self) -> bool:
        """Whether this prompt can be compared by meaning at all (the semantic cache is on, it has words)."""
        return settings.CACHE_SEMANTIC and bool(form(self.prompt).tokens)

    def best(self, candidates: Iterable[Generation]) -> tuple[Generation | None, float]:
        if not settings.CACHE_SEMANTIC:
            return None, 0.0
        close = [c for c in candidates if comparable(self.prompt, c.prompt)]
        if not close or not self.embed(close):
            return None, 0.0
        assert self.vector is not None
        scored = []
        for candidate in close:
            vector = from_bytes(candidate.prompt_embedding)
            if vector is not None and vector.shape == self.vector.shape:
                scored.append((float(self.vector @ vector), candidate))
        if not scored:
            return None, 0.0
        score, match = max(scored, key=lambda pair: pair[0])
        return (match, score) if score >= settings.CACHE_SEMANTIC_THRESHOLD else (None, score)

    def embed(self, close: list[Generation]) -> bool:
        """Embed this prompt and the candidates that have no vector yet (stored for the next lookups)."""
        missing = [c for c in close if from_bytes(c.prompt_embedding) is None]
        texts = [plain(text) for text in ([self.prompt] if self.vector is None else []) + [c.prompt for c in missing]]
        if not texts:
            return True
        vectors = EMBEDDER.encode(texts)
        if vectors is None:
            return False
        if self.vector is None:
            self.vector, vectors = vectors[0], vectors[1:]
        stored = {candidate.pk: to_bytes(vector) for candidate, vector in zip(missing, vectors, strict=True)}
        for candidate in missing:
            candidate.prompt_embedding = stored[candidate.pk]
        # Kept for the next lookups once this request commits. Written now, inside a create that holds its account's
        # lock, they would lock other jobs' rows in the opposite order to a settlement (job, then account).
        transaction.on_commit(lambda: store_vectors(stored), robust=True)
        return True

    @property
    def embedding(self) -> bytes | None:
        return None if self.vector is None else to_bytes(self.vector)


def store_vectors(vectors: dict[Any, bytes]) -> None:
    for pk, vector in vectors.items():
        Generation.objects.filter(pk=pk, prompt_embedding__isnull=True).update(prompt_embedding=vector)


# Lookup ---------------------------------------------------------------------------------------------------


@dataclass
class Probe:
    """What the cache knows about one request: its keys, and an earlier result or a twin in flight, if any."""

    key: str
    scope: str
    request: dict[str, Any]
    kind: str = "bypass"
    source: Generation | None = None
    leader: Generation | None = None
    embedding: bytes | None = field(default=None, repr=False)

    def row_fields(self) -> dict[str, Any]:
        """Stored on the new job: it becomes a source (once it succeeds) and a leader (while in flight)."""
        return {"cache_key": self.key, "cache_scope": self.scope, "prompt_embedding": self.embedding}


def visible_to(user: Any) -> QuerySet[Generation]:
    """Whose results may serve this user: their own, or anyone's when sharing is on (the photo is in the key)."""
    if settings.CACHE_SHARE_ACROSS_USERS:
        return Generation.objects.all()
    return Generation.objects.filter(owner=user)


def source_rows(tier: Any) -> Q:
    if not tier.cache_ttl_days:
        return Q(pk__in=[])
    since = timezone.now() - timedelta(days=tier.cache_ttl_days)
    return Q(status=Status.SUCCEEDED, cached=False, finished_at__gte=since)


def in_flight_rows() -> Q:
    """Jobs a new request may wait for: queued or running, not themselves waiting for another."""
    return Q(status__in=[Status.QUEUED, Status.RUNNING], cached_from__isnull=True, cancel_requested=False, cached=False)


def candidates(user: Any, tier: Any, rows: Q) -> tuple[list[Generation], list[Generation]]:
    """The sources (newest first) and the jobs in flight (oldest first) among `rows`: one query for both."""
    found = list(
        visible_to(user)
        .filter(rows, room__isnull=False)
        .filter(source_rows(tier) | in_flight_rows())
        .exclude(cache_key="")
        .order_by("-created_at")[: 2 * SEMANTIC_CANDIDATES]
    )
    done = sorted(
        (g for g in found if g.status == Status.SUCCEEDED), key=lambda g: g.finished_at or g.created_at, reverse=True
    )
    running = sorted((g for g in found if g.status != Status.SUCCEEDED), key=lambda g: g.created_at)
    return done, running


def probe(
    user: Any,
    room: Any,
    tier: Any,
    *,
    style: str,
    room_type: str,
    prompt: str,
    model: str,
    size: str,
    quality: str,
    n: int,
    variant: int,
) -> Probe:
    """Look the request up: exact result, then same meaning, then an identical job in flight, else a miss."""
    scope = scope_of(room.photo_sha256, style, room_type, model, size, quality, n, variant)
    request = {"style": style, "room_type": room_type, "prompt": prompt, "quality": quality, "size": size, "n": n}
    found = Probe(key_of(scope, prompt), scope, {**request, "variant": variant})
    if variant or not settings.CACHE_ENABLED:
        return found  # "generate again" asks for a new picture on purpose: no lookup, no waiting for a twin
    started = time.monotonic()
    matcher = Matcher(prompt)
    score = 0.0
    exact_done, exact_running = candidates(user, tier, Q(cache_key=found.key))
    if exact_done:
        found.kind, found.source = "exact_hit", exact_done[0]
    else:
        # Only a prompt with words to compare is looked up by meaning: one more query, within its scope.
        near_done, near_running = candidates(user, tier, Q(cache_scope=scope) & ~Q(cache_key=found.key))
        if matcher.comparable() and (match := matcher.best(near_done))[0] is not None:
            found.kind, (found.source, score) = "semantic_hit", match
        else:
            leader = exact_running[0] if exact_running else None
            if leader is None and matcher.comparable():
                leader, score = matcher.best(near_running)
            found.kind, found.leader = ("coalesced" if leader else "miss"), leader
    found.embedding = matcher.embedding
    record_cache(found.kind)
    log.info(
        "cache %s user=%s from=%s score=%.3f lookup_ms=%.1f",
        found.kind,
        getattr(user, "pk", None),
        getattr(found.source or found.leader, "pk", None),
        score,
        (time.monotonic() - started) * 1000,
    )
    return found


# Upkeep and figures ---------------------------------------------------------------------------------------


def trim(owner_id: Any) -> int:
    """Keep each user's newest CACHE_MAX_ENTRIES_PER_USER results as sources; older ones stop matching."""
    entries = (
        Generation.objects.filter(owner_id=owner_id, status=Status.SUCCEEDED, cached=False)
        .exclude(cache_key="")
        .order_by("-finished_at")
    )
    stale = list(entries.values_list("pk", flat=True)[settings.CACHE_MAX_ENTRIES_PER_USER :])
    if stale:
        Generation.objects.filter(pk__in=stale).update(cache_key="", cache_scope="")
    return len(stale)


@dataclass(frozen=True)
class Savings:
    calls: int
    usd: Decimal


def savings(since: datetime) -> Savings:
    """Provider calls and dollars not spent since `since`: each cached answer would have cost its source's price."""
    totals = Generation.objects.filter(cached=True, finished_at__gte=since).aggregate(
        n=Count("id"), usd=Sum("cached_from__cost_usd")
    )
    return Savings(totals["n"] or 0, totals["usd"] or Decimal("0"))
