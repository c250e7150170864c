"""The one interface the pipeline talks to: redesign this photo (prompt, size, quality, n) → images, usage and cost.

Two provider families sit behind it: OpenAI's `images.edit` through the official SDK (openai_images.py) and
Replicate's predictions through its official client (replicate_images.py). PROVIDER_CHAIN orders the targets
(`family:model`); a family with no key is left out, unless no key is set at all, and then the project's sandbox
serves every family (a generation still names the family, `openai` or `replicate`, that served it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from billing.pricing import Usage

FAMILIES = ("openai", "replicate")


@dataclass(frozen=True)
class Target:
    """One place images can come from: a provider family, a model and the endpoint that serves it."""

    provider: str  # the family: "openai" or "replicate"
    base_url: str | None
    model: str
    sandbox: bool = False

    @property
    def name(self) -> str:
        return f"{self.provider}:{self.model}"


@dataclass(frozen=True)
class Result:
    images: list[bytes]
    size: str  # the size the images should have (what the quality check holds them to)
    quality: str
    request_id: str
    headers: dict[str, str]
    usage: Usage = field(default_factory=Usage)


@dataclass
class Hooks:
    """What an asynchronous provider tells the pipeline while it waits, and asks of it.

    `submitted(ids)` records the provider's job ids (Replicate's prediction ids) before any waiting, so a worker that
    dies meanwhile is followed by one that polls the same predictions instead of paying for new ones; `resume` holds
    those of an earlier run; `wanted()` says whether the job is still this worker's: "keep", "cancel" (it ended:
    cancelled, expired, failed) or "leave" (another worker took it over and polls the same work). `leaving()` runs
    once, the moment the paid request is handed to the network: the rate limiter's booking is stamped then, not
    before the client was built and the upload encoded (a cold worker's first call spends tenths of a second there).
    """

    submitted: Callable[[list[str]], None] = lambda ids: None
    leaving: Callable[[], object] = lambda: None
    wanted: Callable[[], str] = lambda: "keep"  # "keep" waiting, "cancel" the provider's work, or "leave" it be
    resume: list[str] = field(default_factory=list)


class Abandoned(Exception):
    """The job was taken away while the provider worked on it; its work was cancelled."""


class PredictionFailed(Exception):
    """An asynchronous provider's job ended `failed` (its error says why) or `canceled` by someone else."""


class PredictionTimeout(Exception):
    """An asynchronous provider's job ran past its time limit; it was cancelled."""


def keys_configured() -> dict[str, bool]:
    return {"openai": bool(settings.OPENAI_API_KEY), "replicate": bool(settings.REPLICATE_API_TOKEN)}


def sandbox_base(family: str) -> str:
    root = f"http://127.0.0.1:{settings.SANDBOX_PORT}"
    return f"{root}/v1" if family == "openai" else root


def base_url_for(family: str) -> str | None:
    if family == "openai":
        return settings.OPENAI_BASE_URL or None
    return settings.REPLICATE_BASE_URL or None


def parse_chain(entries: list[str]) -> list[tuple[str, str]]:
    """`family:model` entries as (family, model) pairs, in order and without repeats; a bad entry fails loudly."""
    pairs = []
    for entry in entries:
        family, _, model = entry.partition(":")
        family, model = family.strip().lower(), model.strip()
        if family not in FAMILIES or not model:
            raise ImproperlyConfigured(
                f"PROVIDER_CHAIN entries are family:model with a family of {FAMILIES}: {entry!r}"
            )
        pairs.append((family, model))
    return list(dict.fromkeys(pairs))


def targets() -> list[Target]:
    """The chain's targets, primary first: those with a key, or every one through the sandbox when none has a key."""
    keys = keys_configured()
    stand_in = not any(keys.values())
    chain = []
    for family, model in parse_chain(settings.PROVIDER_CHAIN):
        explicit = base_url_for(family)
        if keys[family] or explicit:
            chain.append(Target(family, explicit, model))
        elif stand_in:
            chain.append(Target(family, sandbox_base(family), model, sandbox=True))
    if not chain:
        raise ImproperlyConfigured("PROVIDER_CHAIN has no provider with a key (OPENAI_API_KEY, REPLICATE_API_TOKEN)")
    return chain


def target_named(name: str) -> Target | None:
    return next((target for target in targets() if target.name == name), None)
