"""Check image requests the way the real API does and turn them into an `ImageJob`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image

from . import errors
from .errors import ApiError
from .imaging import ImageDecodeError, decode_image

EDITS = "/v1/images/edits"
GENERATIONS = "/v1/images/generations"

GPT_MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5")
DALL_E_2 = "dall-e-2"
KNOWN_MODELS = (*GPT_MODELS, DALL_E_2)
# The spec's defaults: edits use gpt-image-1.5; generations use dall-e-2 unless a GPT-only
# parameter is present.
DEFAULT_EDIT_MODEL = "gpt-image-1.5"
DEFAULT_GPT_MODEL = "gpt-image-1.5"
GPT_ONLY = ("background", "moderation", "output_compression", "output_format", "partial_images", "input_fidelity")

GPT_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
DALL_E_2_SIZES = ("256x256", "512x512", "1024x1024")
GPT_QUALITIES = ("low", "medium", "high", "auto")
DALL_E_2_QUALITIES = ("standard", "auto")
OUTPUT_FORMATS = ("png", "jpeg", "webp")
BACKGROUNDS = ("transparent", "opaque", "auto")
FIDELITIES = ("high", "low")
MODERATIONS = ("low", "auto")
RESPONSE_FORMATS = ("url", "b64_json")

COMMON_PARAMS = frozenset(
    {"prompt", "model", "n", "size", "quality", "response_format", "output_format", "output_compression"}
    | {"background", "stream", "partial_images", "user"}
)
EDIT_PARAMS = COMMON_PARAMS | {"image", "image[]", "mask", "input_fidelity"}
GENERATION_PARAMS = COMMON_PARAMS | {"moderation", "style"}

MB = 1024 * 1024
FORBIDDEN_WORD = re.compile(r"\bFORBIDDEN\b")


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes

    def describe(self) -> dict[str, object]:
        """Summarise the part for the request log without its bytes."""
        return {"filename": self.filename, "content_type": self.content_type, "bytes": len(self.data)}


@dataclass(frozen=True)
class ImageJob:
    """A validated image request."""

    endpoint: str
    model: str
    prompt: str
    n: int
    size: str
    quality: str
    output_format: str
    output_compression: int
    background: str
    response_format: str
    input_fidelity: str
    images: tuple[bytes, ...] = ()
    mask: bytes | None = None

    @property
    def is_gpt(self) -> bool:
        """Whether the model is a GPT image model (b64 only, usage reported)."""
        return self.model in GPT_MODELS


class Params:
    """Typed access to request parameters, from JSON values or multipart strings."""

    def __init__(self, values: Mapping[str, object], *, multipart: bool) -> None:
        # JSON null means "use the default", like leaving the parameter out.
        self.values = {key: value for key, value in values.items() if value is not None}
        self.multipart = multipart

    def has(self, key: str) -> bool:
        """Whether the parameter was sent with a non-null value."""
        return key in self.values

    def text(self, key: str) -> str | None:
        """Return a string parameter, or None when absent."""
        value = self.values.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise errors.invalid_type(key, "a string")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str) -> str:
        """Return an enum parameter, or `default` when absent."""
        value = self.text(key)
        if value is None:
            return default
        if value not in allowed:
            raise errors.invalid_value(key, value, allowed)
        return value

    def integer(self, key: str, low: int, high: int, default: int) -> int:
        """Return an integer parameter within [low, high], or `default` when absent."""
        value = self.values.get(key)
        if value is None:
            return default
        if self.multipart and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.invalid_type(key, "an integer")
        if value > high:
            message = f"Invalid '{key}': integer above maximum value. Expected a value <= {high}, but got {value}."
            raise errors.bad_request(message, key, "integer_above_max_value")
        if value < low:
            message = f"Invalid '{key}': integer below minimum value. Expected a value >= {low}, but got {value}."
            raise errors.bad_request(message, key, "integer_below_min_value")
        return value

    def boolean(self, key: str) -> bool:
        """Return a boolean parameter (false when absent)."""
        value = self.values.get(key, False)
        if self.multipart and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise errors.invalid_type(key, "a boolean")
        return value

    def uploads(self, *keys: str) -> list[Upload]:
        """Return the file parts sent under any of `keys`, in order."""
        found: list[Upload] = []
        for key in keys:
            value = self.values.get(key)
            items = value if isinstance(value, list) else [] if value is None else [value]
            for item in items:
                if not isinstance(item, Upload):
                    raise errors.invalid_type(key.removesuffix("[]"), "a file upload")
                found.append(item)
        return found


def choose_model(params: Params, endpoint: str) -> str:
    """Return the requested model, the spec's default, or raise 404 for an unknown one."""
    model = params.text("model")
    if model is None:
        if endpoint == EDITS:
            return DEFAULT_EDIT_MODEL
        return DEFAULT_GPT_MODEL if any(params.has(key) for key in GPT_ONLY) else DALL_E_2
    if model not in KNOWN_MODELS:
        raise errors.model_not_found(model)
    return model


def check_parameters(params: Params, endpoint: str, model: str) -> None:
    """Reject parameters the endpoint does not have or the model does not support."""
    allowed = EDIT_PARAMS if endpoint == EDITS else GENERATION_PARAMS
    for key in params.values:
        if key not in allowed:
            raise errors.unknown_parameter(key)
    unsupported = ["style"]
    unsupported += ["response_format"] if model in GPT_MODELS else list(GPT_ONLY)
    if model == "gpt-image-1-mini":
        unsupported.append("input_fidelity")
    for key in unsupported:
        if params.has(key):
            message = f"Unsupported parameter: '{key}' is not supported with {model}."
            raise errors.bad_request(message, key, "unsupported_parameter")
    if params.boolean("stream"):
        raise errors.bad_request("Streaming is not supported by the sandbox.", "stream", "unsupported_parameter")


def check_prompt(params: Params, model: str) -> str:
    """Return the prompt, rejecting a missing or overlong one."""
    prompt = params.text("prompt")
    if prompt is None or not prompt.strip():
        raise errors.missing_parameter("prompt")
    limit = 1000 if model == DALL_E_2 else 32000
    if len(prompt) > limit:
        message = f"Invalid 'prompt': string too long. Expected at most {limit} characters, got {len(prompt)}."
        raise errors.bad_request(message, "prompt", "string_above_max_length")
    return prompt


def parse_job(values: Mapping[str, object], endpoint: str, *, multipart: bool) -> ImageJob:
    """Validate a request's parameters (not yet its image bytes) into an `ImageJob`."""
    params = Params(values, multipart=multipart)
    model = choose_model(params, endpoint)
    check_parameters(params, endpoint, model)
    images = params.uploads("image", "image[]") if endpoint == EDITS else []
    if endpoint == EDITS and not images:
        raise errors.missing_parameter("image")
    prompt = check_prompt(params, model)
    gpt = model in GPT_MODELS
    output_format = params.choice("output_format", OUTPUT_FORMATS, "png")
    compression = params.integer("output_compression", 0, 100, 100)
    background = params.choice("background", BACKGROUNDS, "auto")
    if output_format == "png" and compression < 100:
        message = "Compression less than 100 is not supported for PNG output format."
        raise errors.bad_request(message, "output_compression", "invalid_value")
    if background == "transparent" and output_format == "jpeg":
        message = "Transparent background is not supported for jpeg output format."
        raise errors.bad_request(message, "background", "invalid_value")
    params.integer("partial_images", 0, 3, 0)
    params.choice("moderation", MODERATIONS, "auto")
    params.text("user")
    masks = params.uploads("mask")
    # The spec's defaults: 1024x1024 for edits and dall-e-2, auto for GPT generations.
    default_size = "auto" if gpt and endpoint == GENERATIONS else "1024x1024"
    return ImageJob(
        endpoint=endpoint,
        model=model,
        prompt=prompt,
        n=params.integer("n", 1, 10, 1),
        size=params.choice("size", GPT_SIZES if gpt else DALL_E_2_SIZES, default_size),
        quality=params.choice("quality", GPT_QUALITIES if gpt else DALL_E_2_QUALITIES, "auto"),
        output_format=output_format,
        output_compression=compression,
        background=background,
        response_format=params.choice("response_format", RESPONSE_FORMATS, "b64_json" if gpt else "url"),
        input_fidelity=params.choice("input_fidelity", FIDELITIES, "low"),
        images=tuple(upload.data for upload in images),
        mask=masks[0].data if masks else None,
    )


def check_moderation(job: ImageJob) -> None:
    """Block prompts with the word FORBIDDEN, so clients can test a non-retryable error."""
    if FORBIDDEN_WORD.search(job.prompt):
        raise errors.moderation_blocked()


def _invalid_image(message: str, param: str = "image") -> ApiError:
    return errors.bad_request(message, param, "invalid_image_file")


def decode_uploads(job: ImageJob) -> tuple[Image.Image | None, Image.Image | None]:
    """Decode the uploaded photo(s) and mask, enforcing the model's file rules."""
    if not job.images:
        return None, None
    limit_mb = 50 if job.is_gpt else 4
    if len(job.images) > (16 if job.is_gpt else 1):
        raise _invalid_image(f"Too many images: {job.model} accepts at most {16 if job.is_gpt else 1}.")
    photos = []
    for number, data in enumerate(job.images, start=1):
        if len(data) > limit_mb * MB:
            raise _invalid_image(f"Image {number} is larger than {limit_mb} MB.")
        try:
            photos.append(decode_image(data))
        except ImageDecodeError:
            message = f"Invalid image file or mode for image {number}, please check your image file."
            raise _invalid_image(message) from None
    photo = photos[0]
    if not job.is_gpt and (photo.format != "PNG" or photo.width != photo.height):
        raise _invalid_image("Invalid input image - dall-e-2 requires a square PNG image.")
    return photo, decode_mask(job, photo)


def decode_mask(job: ImageJob, photo: Image.Image) -> Image.Image | None:
    """Decode the mask, which must be a PNG the same size as the first image."""
    if job.mask is None:
        return None
    try:
        mask = decode_image(job.mask)
    except ImageDecodeError:
        raise _invalid_image("Invalid mask image file, please check your mask file.", "mask") from None
    if mask.format != "PNG" or len(job.mask) > 4 * MB:
        raise _invalid_image("Invalid mask image - the mask must be a PNG file under 4 MB.", "mask")
    if mask.size != photo.size:
        raise _invalid_image("Invalid mask image - mask size does not match image size.", "mask")
    return mask


# --- moderations --------------------------------------------------------------------------------

MODERATIONS_ENDPOINT = "/v1/moderations"
MODERATION_PARAMS = frozenset({"input", "model"})
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"


@dataclass(frozen=True)
class ModerationInput:
    """One item to classify: a text, or an image (classified as harmless here)."""

    kind: str  # "text" or "image"
    text: str = ""


def _moderation_item(item: object, index: int) -> ModerationInput:
    """Check one element of an array `input` against the spec's two item shapes (or a plain string)."""
    if isinstance(item, str):
        return ModerationInput("text", item)
    if not isinstance(item, dict):
        raise errors.invalid_type(f"input[{index}]", "a string or an object")
    kind = item.get("type")
    if kind == "text" and isinstance(item.get("text"), str):
        return ModerationInput("text", item["text"])
    image = item.get("image_url")
    if kind == "image_url" and isinstance(image, dict) and isinstance(image.get("url"), str):
        return ModerationInput("image")
    message = f"Invalid 'input[{index}]': expected {{type: 'text', text}} or {{type: 'image_url', image_url: {{url}}}}."
    raise errors.bad_request(message, f"input[{index}]", "invalid_value")


def parse_moderation(body: Mapping[str, object]) -> tuple[str, list[ModerationInput]]:
    """Validate a `CreateModerationRequest`; return the model and the inputs to classify, in order."""
    for key in body:
        if key not in MODERATION_PARAMS:
            raise errors.unknown_parameter(key)
    model = body.get("model", DEFAULT_MODERATION_MODEL)
    if not isinstance(model, str):
        raise errors.invalid_type("model", "a string")
    if "input" not in body:
        raise errors.missing_parameter("input")
    value = body["input"]
    if isinstance(value, str):
        return model, [ModerationInput("text", value)]
    if not isinstance(value, list):
        raise errors.invalid_type("input", "a string or an array")
    items = [_moderation_item(item, index) for index, item in enumerate(value)]
    kinds = {type(item) for item in value}
    if len(kinds) > 1:  # the spec's oneOf: all strings, or all objects
        raise errors.bad_request("Invalid 'input': mix of strings and objects.", "input", "invalid_value")
    return model, items
