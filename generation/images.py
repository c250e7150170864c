"""Check an uploaded photo and re-encode it: only real, sane images are stored, without their EXIF."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from core.api import ApiError

# Decoders Pillow may run on an upload: the fewer, the smaller the attack surface (TIFF, BMP, GIF and the rest are
# never tried). A phone's JPEG with several pictures in it opens as MPO, which is JPEG's own decoder.
DECODERS = ("JPEG", "PNG", "WEBP")
ACCEPTED_FORMATS = {*DECODERS, "MPO"}
UNSUPPORTED = "Upload a JPEG, PNG or WebP photo; other formats are not accepted."
# Bytes a decoded pixel takes in Pillow's memory, by mode (every other mode takes four).
PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "LA": 4, "La": 4, "PA": 4}


@dataclass(frozen=True)
class CleanPhoto:
    content: bytes
    sha256: str
    width: int
    height: int


def clean_photo(data: bytes) -> CleanPhoto:
    """Decode fully, bound size and pixels, apply EXIF orientation, and re-encode as a stripped JPEG."""
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise ApiError("file_too_large", f"The photo is larger than {settings.MAX_UPLOAD_BYTES // 2**20} MB.", 413)
    if not data:
        raise ApiError("invalid_image", "The photo is empty.")
    image = _decode(data)
    image = ImageOps.exif_transpose(image).convert("RGB")
    if min(image.size) < settings.MIN_UPLOAD_SIDE:
        raise ApiError("image_too_small", f"The photo must be at least {settings.MIN_UPLOAD_SIDE} pixels on each side.")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, optimize=True)  # a fresh file: no EXIF, no GPS, no trailing data
    content = out.getvalue()
    return CleanPhoto(content, hashlib.sha256(content).hexdigest(), image.width, image.height)


def _decode(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data), formats=DECODERS)
            if probe.format not in ACCEPTED_FORMATS:
                raise ApiError("invalid_image", UNSUPPORTED)
            if probe.width * probe.height > settings.MAX_UPLOAD_PIXELS:
                raise _too_many_pixels()
            if decoded_bytes(probe) > settings.MAX_UPLOAD_DECODED_BYTES:
                raise _too_large_decoded()
            probe.verify()  # checks the file's structure; the image must be opened again to be used
            image = Image.open(io.BytesIO(data), formats=DECODERS)
            image.load()  # decodes every pixel: a truncated file fails here
        except ApiError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_many_pixels() from exc
        except UnidentifiedImageError as exc:
            raise ApiError("invalid_image", f"The file is not a readable image. {UNSUPPORTED}") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ApiError("invalid_image", "The file is not a readable image (or it is truncated).") from exc
    return image


def decoded_bytes(image: Image.Image) -> int:
    """How much memory the image's pixels take once decoded, from its header alone."""
    return image.width * image.height * PIXEL_BYTES.get(image.mode, 4)


def _too_large_decoded() -> ApiError:
    limit_mb = settings.MAX_UPLOAD_DECODED_BYTES // 2**20
    return ApiError("image_too_large", f"The photo's pixels take more than {limit_mb} MB once decoded.", 413)


def _too_many_pixels() -> ApiError:
    return ApiError("image_too_large", f"The photo has more than {settings.MAX_UPLOAD_PIXELS:,} pixels.", 413)


def output_size_for(width: int, height: int) -> str:
    """The provider size closest to the room photo's shape, so the redesign keeps its framing."""
    ratio = width / height
    if ratio >= 1.25:
        return "1536x1024"
    if ratio <= 0.8:
        return "1024x1536"
    return "1024x1024"
