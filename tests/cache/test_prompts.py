"""Prompt normalisation, keys, and the labeled pairs: rewordings hit, anything that changes the picture never does.

The pairs go through the production lookup: a real result for the first prompt, then a probe with the second.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest

from generation.cache import embedder, lookup, prompts
from generation.models import Generation
from tests.support.billing import account_of
from tests.support.jobs import create, make_room, succeed

# (first, second, same picture?) — rewordings that should be served from the cache, and near misses that must not.
LABELED_PAIRS = [
    ("modern minimalist, light oak", "light-oak minimalist modern", True),
    ("make the walls sage green", "paint the walls sage green", True),
    ("light oak floors", "light oak flooring", True),
    ("warm lighting and plants", "plants and warm lighting", True),
    ("add a large rug", "add a big rug", True),
    ("lots of plants", "many plants", True),
    ("grey sofa with velvet cushions", "gray couch with velvet cushions", True),
    ("Scandinavian style with white walls", "white walls, scandinavian", True),
    ("brighter lighting", "make the lighting brighter", True),
    ("Cozy, warm, and inviting!", "cozy warm inviting", True),
    ("a cozy reading nook by the window", "cosy reading nook next to the window", True),
    ("add a large rug", "put in a big rug", True),
    ("more plants please", "add more plants", True),
    ("light oak", "dark walnut", False),
    ("add a rug", "remove the rug", False),
    ("blue walls", "green walls", False),
    ("white sofa", "black sofa", False),
    ("lots of plants", "no plants", False),
    ("light oak floors", "dark oak floors", False),
    ("with a fireplace", "without a fireplace", False),
    ("navy blue velvet sofa", "emerald green velvet sofa", False),
    ("bright and airy", "dark and moody", False),
    ("king size bed", "twin beds", False),
    ("modern minimalist, light oak", "modern minimalist, dark oak", False),
    ("add a rug", "add a lamp", False),
    ("remove the tv", "add a tv", False),
    ("white walls, black sofa", "black walls, white sofa", False),
    ("two armchairs", "four armchairs", False),
    ("sofa on the left", "sofa on the right", False),
    ("marble countertops", "wooden countertops", False),
    ("round dining table", "square dining table", False),
    ("add a rug, remove the lamp", "remove the rug, add a lamp", False),
    ("a sofa", "an armchair", False),
    ("green plants", "green walls", False),
    ("brass lamp", "chrome lamp", False),
    ("red accents", "yellow accents", False),
    ("", "add a rug", False),
    ("brighter lighting", "darker lighting", False),
    ("don't add plants", "add plants", False),
    ("off-white walls", "white walls", False),
    ("slightly darker walls", "much darker walls", False),
    ("a bigger sofa", "a smaller sofa", False),
]


@pytest.fixture
def asked_first(db: None, make_user: Callable[..., Any]) -> Callable[[str], Generation]:
    """Results made as the product makes them (created, claimed, succeeded), each for a photo of its own."""
    user = make_user("cora", tier="business")
    widths = itertools.count(400)

    def ask(prompt: str) -> Generation:
        # Another width, another photo, another cache scope: no pair's result can answer another pair's prompt.
        room = make_room(user, width=next(widths), height=300)
        return succeed(create(user, room, prompt=prompt))

    return ask


def served(source: Generation, prompt: str) -> bool:
    """Whether the production lookup answers `prompt` with `source` (same user, photo, style and settings)."""
    found = lookup.probe(
        source.owner,
        source.room,
        account_of(source.owner).tier,
        style=source.style,
        room_type=source.room_type,
        prompt=prompt,
        model=source.model,
        size=source.size,
        quality=source.quality,
        n=source.n,
        variant=0,
    )
    hit = found.kind in ("exact_hit", "semantic_hit")
    assert not hit or found.source == source, "a result from another room"
    return hit


def test_it_folds_case_punctuation_order_plurals_and_filler():
    assert prompts.canonical("Modern minimalist, LIGHT oak!") == prompts.canonical("light-oak   minimalist modern")
    assert prompts.canonical("Add cushions to the sofa") == prompts.canonical("add a cushion to sofa")
    assert prompts.canonical("please make it grey") == prompts.canonical("gray")
    assert prompts.canonical("") == prompts.canonical("  please  ")


def test_it_keeps_which_attribute_goes_on_which_object():
    # The same bag of words, a different room: a plain sorted-token key would serve the wrong picture.
    assert prompts.canonical("white walls, black sofa") != prompts.canonical("black walls, white sofa")
    assert prompts.canonical("add a rug, remove the lamp") != prompts.canonical("remove a rug, add the lamp")
    assert prompts.canonical("white walls and a black sofa") == prompts.canonical("black sofa, white walls")
    assert prompts.canonical("walls in white") == prompts.canonical("white walls")


def test_keys_cover_every_input():
    base = {
        "photo_sha256": "a" * 64,
        "style": "modern",
        "room_type": "bedroom",
        "model": "gpt-image-1",
        "size": "1024x1024",
        "quality": "low",
        "n": 1,
        "variant": 0,
    }
    scope = prompts.scope_of(**base)
    for name, other in [
        ("photo_sha256", "b" * 64),
        ("style", "japandi"),
        ("room_type", "office"),
        ("model", "gpt-image-1-mini"),
        ("size", "1536x1024"),
        ("quality", "high"),
        ("n", 2),
        ("variant", 1),
    ]:
        assert prompts.scope_of(**{**base, name: other}) != scope, name
    assert prompts.key_of(scope, "light oak") != prompts.key_of(scope, "dark oak")
    assert prompts.key_of(scope, "Light oak.") == prompts.key_of(scope, "oak, light")


def test_the_labeled_pairs_give_no_false_hit(asked_first):
    sources = [asked_first(a) for a, _, _ in LABELED_PAIRS]
    results = [(a, b, want, served(source, b)) for (a, b, want), source in zip(LABELED_PAIRS, sources, strict=True)]
    false_hits = [(a, b) for a, b, want, got in results if got and not want]
    hits = sum(1 for _, _, want, got in results if want and got)
    positives = sum(1 for _, _, want in LABELED_PAIRS if want)
    print(f"\nlabeled pairs: {len(LABELED_PAIRS)}, false hits {len(false_hits)}, rewordings served {hits}/{positives}")
    assert not false_hits
    assert hits >= 9, "most rewordings should be served from the cache"


def test_the_guard_stops_what_the_embedding_alone_would_pass(asked_first, settings):
    # These score above the threshold as sentence vectors; only the attribute guard keeps them apart.
    for a, b in [
        ("light oak floors", "dark oak floors"),
        ("modern minimalist, light oak", "modern minimalist, dark oak"),
        ("sofa on the left", "sofa on the right"),
        ("white walls, black sofa", "black walls, white sofa"),
    ]:
        first, second = lookup.EMBEDDER.encode([a, b])
        assert float(first @ second) >= settings.CACHE_SEMANTIC_THRESHOLD - 0.01, (a, b)
        assert not served(asked_first(a), b), (a, b)


def test_a_higher_threshold_turns_rewordings_into_misses(asked_first, settings):
    sage, oak = asked_first("make the walls sage green"), asked_first("modern minimalist, light oak")
    assert served(sage, "paint the walls sage green")
    settings.CACHE_SEMANTIC_THRESHOLD = 0.99
    assert not served(sage, "paint the walls sage green")
    assert served(oak, "light-oak minimalist modern")  # exact, no model


def test_without_the_model_it_degrades_to_exact_matches(asked_first, monkeypatch, caplog):
    sage, oak = asked_first("make the walls sage green"), asked_first("modern minimalist, light oak")
    broken = embedder.Embedder()

    def no_model() -> None:
        raise OSError("model files missing")

    monkeypatch.setattr(broken, "load", no_model)
    monkeypatch.setattr(lookup, "EMBEDDER", broken)
    with caplog.at_level(logging.WARNING, logger="generation"):
        assert not served(sage, "paint the walls sage green")
        assert not served(sage, "paint the walls sage green")
    assert served(oak, "light-oak minimalist modern")
    assert broken.failed
    assert sum("exact matches only" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("cushions", "cushion"),
        ("accessories", "accessory"),
        ("benches", "bench"),
        ("glass", "glass"),
        ("brass", "brass"),
    ],
)
def test_plurals_fold_predictably(raw, folded):
    assert prompts.stem(raw) == folded
