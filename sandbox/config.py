"""Sandbox configuration: defaults, validation, and parsing from env and flags."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LATENCY_DISTRIBUTIONS = ("uniform", "triangular")
PROBABILITY_KEYS = ("rate_429", "rate_500", "rate_503", "rate_timeout", "rate_drop", "rate_blank", "rate_corrupt")
# What POST /v1/moderations flags when no other list is configured: words no redesign prompt needs. (`FORBIDDEN`
# stays the image endpoints' own refusal, so the image API's content policy can still be tested past moderation.)
DEFAULT_FLAG_TERMS = ("gore", "massacre", "nude")
ENV_PREFIX = "SANDBOX_"
# The provider families the sandbox stands in for: OpenAI's Images API and Replicate's predictions API.
PROVIDERS = ("openai", "replicate")


class ConfigError(ValueError):
    """A config key is unknown or its value is out of range."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class SandboxConfig:
    """Behaviour knobs, all changeable at run time through `POST /_sandbox/config`."""

    latency_s_min: float = 1.0
    latency_s_max: float = 3.0
    latency_dist: str = "uniform"
    rpm: int = 0
    ipm: int = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_timeout: float = 0.0
    rate_drop: float = 0.0
    outage: bool = False
    seed: int = 0
    hang_s: float = 3600.0
    retry_after_s: float = 1.0
    # A time-scaled "minute" for rpm/ipm, so tests and benchmarks can run at a real limit's shape quickly.
    window_s: float = 60.0
    # Comma-separated models that answer 503 as if only they were down (to exercise fallback chains).
    outage_models: str = ""
    render_scale: int = 1
    # Probabilities that a successful image answer is spoiled: one flat colour, or bytes that do not decode.
    rate_blank: float = 0.0
    rate_corrupt: float = 0.0
    # POST /v1/moderations flags an input that contains any of these as a word (ignoring case).
    flag_terms: tuple[str, ...] = DEFAULT_FLAG_TERMS
    # Families that answer 503 to everything while the others still serve, e.g. ("openai",).
    outage_providers: tuple[str, ...] = ()
    # Per-family overrides of any key above, e.g. {"replicate": {"rpm": 600, "latency_s_min": 2}}: the same faults,
    # limits and latencies, set apart for each provider.
    providers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def for_provider(self, family: str) -> SandboxConfig:
        """The config one provider family runs with: its overrides applied, down when it is in `outage_providers`."""
        overrides = self.providers.get(family, {})
        config = dataclasses.replace(self, **overrides) if overrides else self
        if family in self.outage_providers and not config.outage:
            config = dataclasses.replace(config, outage=True)
        return config

    def model_down(self, model: str) -> bool:
        """Whether `model` is in the per-model outage list."""
        return model in self.outage_models.split(",")

    def as_dict(self) -> dict[str, Any]:
        """Return the config as a JSON-ready dict."""
        values = dataclasses.asdict(self)
        values["flag_terms"] = list(self.flag_terms)
        values["outage_providers"] = list(self.outage_providers)
        return values

    def updated(self, changes: Mapping[str, object]) -> SandboxConfig:
        """Return a copy with `changes` applied, or raise ConfigError."""
        clean: dict[str, Any] = {key: _check_value(key, value) for key, value in changes.items()}
        new = dataclasses.replace(self, **clean)
        for family in ("", *new.providers):
            config = new.for_provider(family) if family else new
            if config.latency_s_min > config.latency_s_max:
                raise ConfigError("latency_s_min must not exceed latency_s_max.", "latency_s_min")
        return new


FIELD_TYPES: dict[str, type] = {
    f.name: dict if f.name == "providers" else type(f.default) for f in dataclasses.fields(SandboxConfig)
}
# What a per-provider override may not set: the lists of who is down, and overrides within overrides.
NOT_PER_PROVIDER = ("providers", "outage_providers", "seed")


def _check_value(key: str, value: object) -> object:
    """Validate one JSON value for `key` and return it with its canonical type."""
    kind = FIELD_TYPES.get(key)
    if kind is None:
        raise ConfigError(f"Unknown config key: {key!r}. Known keys: {', '.join(FIELD_TYPES)}.", key)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false.", key)
        return value
    if key == "flag_terms":
        if not isinstance(value, list | tuple) or not all(isinstance(term, str) and term.strip() for term in value):
            raise ConfigError(f"{key} must be a list of non-empty strings.", key)
        return tuple(term.strip() for term in value)
    if key == "outage_providers":
        if not isinstance(value, list | tuple) or not all(item in PROVIDERS for item in value):
            raise ConfigError(f"{key} must be a list of provider families out of {', '.join(PROVIDERS)}.", key)
        return tuple(dict.fromkeys(value))
    if key == "providers":
        return _check_providers(value)
    if key == "outage_models":
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a comma-separated string of model names.", key)
        return ",".join(part.strip() for part in value.split(",") if part.strip())
    if kind is str:
        if value not in LATENCY_DISTRIBUTIONS:
            raise ConfigError(f"{key} must be one of {', '.join(LATENCY_DISTRIBUTIONS)}.", key)
        return value
    # bool is an int subclass; `true` is never a sensible number here.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number.", key)
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key} must be an integer.", key)
        value = int(value)
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{key} must be a finite number >= 0.", key)
    if key == "window_s" and value <= 0:
        raise ConfigError(f"{key} must be greater than 0.", key)
    if key == "render_scale" and not 1 <= value <= 16:
        raise ConfigError(f"{key} must be between 1 and 16.", key)
    if key in PROBABILITY_KEYS and value > 1:
        raise ConfigError(f"{key} is a probability and must be between 0 and 1.", key)
    return float(value) if kind is float else value


def _check_providers(value: object) -> dict[str, dict[str, Any]]:
    """Validate `providers`: {family: {key: value}} with known families and keys, each value checked as usual."""
    if not isinstance(value, dict) or not set(value) <= set(PROVIDERS):
        raise ConfigError(f"providers must map provider families ({', '.join(PROVIDERS)}) to config keys.", "providers")
    clean: dict[str, dict[str, Any]] = {}
    for family, overrides in value.items():
        if not isinstance(overrides, dict) or set(overrides) & set(NOT_PER_PROVIDER):
            raise ConfigError(f"providers.{family} must be an object of config keys (not {NOT_PER_PROVIDER}).", family)
        clean[family] = {key: _check_value(key, item) for key, item in overrides.items()}
    return clean


def parse_text(key: str, text: str) -> object:
    """Turn a flag or env string into the JSON-like value `_check_value` expects."""
    kind = FIELD_TYPES.get(key)
    if kind is None:
        raise ConfigError(f"Unknown config key: {key!r}.", key)
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{key} must be true or false, got {text!r}.", key)
    if kind is str:
        return text.strip()
    if kind is dict:
        try:
            return json.loads(text)
        except ValueError:
            raise ConfigError(f"{key} must be JSON, got {text!r}.", key) from None
    if kind is tuple:
        return [term for term in (part.strip() for part in text.split(",")) if term]
    try:
        return int(text) if kind is int else float(text)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {text!r}.", key) from None


def config_from_env(environ: Mapping[str, str]) -> dict[str, object]:
    """Collect config values from `SANDBOX_<KEY>` environment variables."""
    values: dict[str, object] = {}
    for key in FIELD_TYPES:
        text = environ.get(ENV_PREFIX + key.upper())
        if text is not None:
            values[key] = parse_text(key, text)
    return values
