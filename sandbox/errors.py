"""OpenAI-shaped API errors (`ErrorResponse` in the OpenAPI spec)."""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = "invalid_request_error"


class ApiError(Exception):
    """An error answered as `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body OpenAI sends for this error."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    """Build a 400 `invalid_request_error`."""
    return ApiError(400, message, param=param, code=code)


def invalid_value(param: str, value: object, allowed: tuple[str, ...]) -> ApiError:
    """Build the 400 OpenAI answers for a value outside an enum."""
    supported = ", ".join(f"'{item}'" for item in allowed)
    return ApiError(
        400,
        f"Invalid value: '{value}'. Supported values are: {supported}.",
        param=param,
        code="invalid_value",
    )


def missing_parameter(param: str) -> ApiError:
    """Build the 400 for a required parameter that was not sent."""
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def unknown_parameter(param: str) -> ApiError:
    """Build the 400 for a parameter the endpoint or model does not accept."""
    return ApiError(400, f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter")


def invalid_type(param: str, expected: str) -> ApiError:
    """Build the 400 for a value of the wrong type."""
    return ApiError(400, f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type")


def invalid_api_key(key: str | None) -> ApiError:
    """Build the 401 for a missing or rejected API key, never echoing the whole key."""
    if not key:
        message = (
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
    else:
        message = f"Incorrect API key provided: {key[:6]}***. This is the InteriorAI sandbox."
    return ApiError(401, message, code="invalid_api_key")


def model_not_found(model: str) -> ApiError:
    """Build the 404 for a model the sandbox does not know."""
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        code="model_not_found",
    )


def moderation_blocked() -> ApiError:
    """Build the 400 the content-policy filter answers; clients must not retry it."""
    return ApiError(
        400,
        "Your request was rejected as a result of our safety system. Your request may contain content "
        "that is not allowed by our safety system.",
        type="image_generation_user_error",
        code="moderation_blocked",
    )


def rate_limited(message: str, headers: dict[str, str]) -> ApiError:
    """Build a 429 with OpenAI's rate-limit error shape."""
    return ApiError(429, message, type="requests", code="rate_limit_exceeded", headers=headers)


def server_error() -> ApiError:
    """Build the generic 500 OpenAI answers."""
    return ApiError(
        500,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


def overloaded() -> ApiError:
    """Build the 503 OpenAI answers when the service is overloaded or down."""
    return ApiError(
        503,
        "The engine is currently overloaded, please try again later.",
        type="server_error",
        code="service_unavailable",
    )
