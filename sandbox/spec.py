"""Validate recorded requests against the official OpenAI OpenAPI spec."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

ENDPOINTS = {
    "/images/edits": "multipart/form-data",
    "/images/generations": "application/json",
    "/moderations": "application/json",
}
BINARY_PLACEHOLDER = "<binary>"
MAX_REF_DEPTH = 32


def spec_path() -> Path:
    """Return the spec's location: `$OPENAI_OPENAPI_SPEC`, else `shared/` beside the project."""
    override = os.environ.get("OPENAI_OPENAPI_SPEC")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared/reference/openai-openapi.yaml"


@lru_cache(maxsize=4)
def load_spec(path: Path) -> dict[str, Any]:
    """Load and cache the (large) YAML spec, with the C loader when available."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        spec: dict[str, Any] = yaml.load(handle, Loader=loader)  # noqa: S506 - SafeLoader or CSafeLoader only.
    return spec


def _follow(spec: dict[str, Any], ref: str) -> Any:
    """Return the node a local `#/a/b` reference points to."""
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def resolve(node: Any, spec: dict[str, Any], depth: int = 0) -> Any:
    """Inline `$ref`s and turn OpenAPI's `nullable: true` into a JSON Schema null type."""
    if depth > MAX_REF_DEPTH:
        return {}
    if isinstance(node, list):
        return [resolve(item, spec, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return resolve(_follow(spec, node["$ref"]), spec, depth + 1)
    schema = {key: resolve(value, spec, depth) for key, value in node.items()}
    if schema.pop("nullable", False):
        schema = _allow_null(schema)
    return schema


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Let a schema also accept null, as `nullable: true` meant in OpenAPI 3.0."""
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    elif "enum" not in schema:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


@lru_cache(maxsize=8)
def request_schema(endpoint: str) -> dict[str, Any]:
    """Return the resolved request-body schema for an endpoint like `/v1/images/edits`."""
    path = endpoint.removeprefix("/v1")
    content_type = ENDPOINTS.get(path)
    if content_type is None:
        raise ValueError(f"No request schema known for {endpoint!r}; known: {', '.join(ENDPOINTS)}.")
    spec = load_spec(spec_path())
    operation = spec["paths"][path]["post"]
    schema: dict[str, Any] = resolve(operation["requestBody"]["content"][content_type]["schema"], spec)
    return schema


@lru_cache(maxsize=8)
def response_schema(endpoint: str, status: str = "200") -> dict[str, Any]:
    """Return the resolved JSON schema of an endpoint's answer (by default, its success)."""
    path = endpoint.removeprefix("/v1")
    if path not in ENDPOINTS:
        raise ValueError(f"No response schema known for {endpoint!r}; known: {', '.join(ENDPOINTS)}.")
    spec = load_spec(spec_path())
    content = spec["paths"][path]["post"]["responses"][status]["content"]["application/json"]
    schema: dict[str, Any] = resolve(content["schema"], spec)
    return schema


def validate_response(endpoint: str, body: Any) -> list[str]:
    """Validate an answer's JSON against the spec; return error messages, empty if valid."""
    validator = jsonschema.Draft202012Validator(response_schema(endpoint))
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '<body>'}: {error.message}" for error in errors]


def _types(schema: dict[str, Any]) -> set[str]:
    """Collect the JSON types a schema (or any branch of its anyOf/oneOf) accepts."""
    kinds = schema.get("type", [])
    found = {kinds} if isinstance(kinds, str) else set(kinds)
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        found |= _types(branch)
    return found


def _coerce_form_value(value: Any, schema: dict[str, Any]) -> Any:
    """Turn a multipart string into the integer, number or boolean the schema expects."""
    if isinstance(value, dict) and "bytes" in value:
        return BINARY_PLACEHOLDER
    if isinstance(value, list):
        return [_coerce_form_value(item, schema.get("items", schema)) for item in value]
    if not isinstance(value, str):
        return value
    kinds = _types(schema)
    if "string" in kinds:
        return value
    if "integer" in kinds and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in kinds and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    return value


def _form_to_instance(fields: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Map recorded multipart fields (file parts summarised, `name[]` lists) onto the schema's shape."""
    properties = schema.get("properties", {})
    instance: dict[str, Any] = {}
    for key, value in fields.items():
        name = key.removesuffix("[]")
        if key.endswith("[]") and not isinstance(value, list):
            value = [value]
        instance[name] = _coerce_form_value(value, properties.get(name, {}))
    return instance


def validate_request(endpoint: str, fields: dict[str, Any]) -> list[str]:
    """Validate a recorded request's fields against the spec; return error messages, empty if valid."""
    schema = request_schema(endpoint)
    if ENDPOINTS[endpoint.removeprefix("/v1")] == "multipart/form-data":
        fields = _form_to_instance(fields, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(fields), key=lambda error: list(error.absolute_path))
    return [f"{'/'.join(map(str, error.absolute_path)) or '<body>'}: {error.message}" for error in errors]
