"""Images a provider answered with but that nobody should receive: they count as a failed call, never a result.

Provider-agnostic: it looks only at the bytes of the answer, the photo that was sent and the size asked for, so
every provider family runs its answers through the same check before they are stored or charged.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import Protocol

from PIL import Image, ImageStat, UnidentifiedImageError

from generation.provider.retry import Failure

# A picture whose every channel varies less than this (standard deviation, 0-255) shows one flat colour. Real
# redesigns, even of a bare white room, vary by tens; compression noise on a flat image stays well under one.
FLAT_STDDEV = 2.0
SAMPLE_SIDE = 128  # flatness is judged on a thumbnail: the same answer, a hundredth of the pixels


class Answer(Protocol):
    """What a provider call returned: the images' encoded bytes, in order."""

    @property
    def images(self) -> Sequence[bytes]: ...


def check_images(result: Answer, photo: bytes, size: str) -> Failure | None:
    """The first reason the answer must not be delivered (as a failed, retryable call), or None if it is fine."""
    if not result.images:
        return broken("image_missing", "The image service answered without an image.")
    wanted = parse_size(size)
    for data in result.images:
        if data == photo:
            return broken("image_unchanged", "The image service sent the room photo back unchanged.")
        image = decode(data)
        if image is None:
            return broken("image_corrupt", "The image service sent an image that could not be read.")
        if wanted is not None and image.size != wanted:
            return broken("image_wrong_size", "The image service sent an image of the wrong size.")
        if is_flat(image):
            return broken("image_blank", "The image service sent a blank image.")
    return None


def broken(code: str, message: str) -> Failure:
    # The call was made and billed upstream, but gave nothing usable: like a call whose answer was lost, it is
    # retried and uses up one of the job's attempts, so a provider that keeps sending junk is not paid forever.
    return Failure("unknown", True, code, message, status_code=200)


def parse_size(size: str) -> tuple[int, int] | None:
    """`1536x1024` as (1536, 1024); None for `auto` or anything else the provider may choose."""
    width, _, height = size.partition("x")
    return (int(width), int(height)) if width.isdigit() and height.isdigit() else None


def decode(data: bytes) -> Image.Image | None:
    """The fully decoded image, or None if the bytes are not a complete image."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            image.load()
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            return None
        except Image.DecompressionBombWarning:
            return None
    return image


def is_flat(image: Image.Image) -> bool:
    sample = image.convert("RGB")
    sample.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE))
    return max(ImageStat.Stat(sample).stddev) < FLAT_STDDEV
