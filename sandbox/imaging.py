"""Real, deterministic images: the input photo cropped to size and restyled by the prompt."""

from __future__ import annotations

import colorsys
import hashlib
import io
from dataclasses import dataclass, replace
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

GPT_SIZES = ((1024, 1024), (1536, 1024), (1024, 1536))
PIL_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
ACCEPTED_UPLOADS = frozenset({"PNG", "JPEG", "WEBP"})


class ImageDecodeError(ValueError):
    """The upload is not a complete PNG, JPEG or WebP image."""


@dataclass(frozen=True)
class RenderSpec:
    """Everything that decides the pixels and bytes of one output image."""

    width: int
    height: int
    prompt: str
    quality: str
    seed: int
    index: int
    output_format: str = "png"
    compression: int = 100
    transparent: bool = False


def decode_image(data: bytes) -> Image.Image:
    """Decode and fully load an upload, so truncated files fail here and not later."""
    try:
        image = Image.open(io.BytesIO(data))
        image_format = image.format
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(str(exc) or "unreadable image") from exc
    if image_format not in ACCEPTED_UPLOADS:
        raise ImageDecodeError(f"unsupported image format {image_format}")
    # Phone photos are often stored sideways with an EXIF rotation flag.
    upright = ImageOps.exif_transpose(image) or image
    upright.format = image_format
    return upright


def closest_size(width: int, height: int) -> tuple[int, int]:
    """Pick the GPT image size whose aspect ratio is nearest the input's (for `size=auto`)."""
    ratio = width / height
    return min(GPT_SIZES, key=lambda size: abs(size[0] / size[1] - ratio))


def _digest(*parts: object) -> bytes:
    """Hash the parts that define an image so equal inputs give equal pixels."""
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).digest()


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


@lru_cache(maxsize=16)
def _vignette(width: int, height: int) -> Image.Image:
    """Return an L mask, 255 in the middle fading to about 60% at the corners."""
    gradient = Image.radial_gradient("L").resize((width, height), Image.Resampling.BILINEAR)
    return gradient.point(lambda v: round(255 - 100 * (v / 255) ** 2))


def restyle(photo: Image.Image, spec: RenderSpec) -> Image.Image:
    """Crop `photo` to the spec's size and grade it with a palette chosen by the prompt."""
    digest = _digest(spec.seed, spec.index, spec.quality, spec.prompt)
    base = ImageOps.fit(photo.convert("RGB"), (spec.width, spec.height), Image.Resampling.BICUBIC)
    hue = digest[0] / 256
    toned = ImageOps.colorize(
        ImageOps.grayscale(base),
        black=_hsv(hue, 0.7, 0.12),
        mid=_hsv(hue + 0.08, 0.5, 0.55),
        white=_hsv(hue + 0.16, 0.15, 0.98),
    )
    # Blend rather than replace, so the room keeps a hint of its own colours.
    graded = Image.blend(base, toned, 0.55 + digest[1] / 255 * 0.2)
    # One bit of the prompt picks the texture treatment, so styles differ in more than colour.
    graded = ImageOps.posterize(graded, 5) if digest[2] % 2 else graded.filter(ImageFilter.EDGE_ENHANCE)
    graded = ImageEnhance.Contrast(graded).enhance(1.05 + digest[3] / 255 * 0.2)
    graded = _apply_quality(graded, spec.quality)
    vignette = _vignette(spec.width, spec.height)
    graded = ImageChops.multiply(graded, Image.merge("RGB", (vignette, vignette, vignette)))
    if spec.transparent:
        graded.putalpha(vignette)
    return graded


def _apply_quality(image: Image.Image, quality: str) -> Image.Image:
    """Make low quality visibly softer and high quality crisper."""
    if quality == "low":
        return image.filter(ImageFilter.GaussianBlur(1.2))
    if quality == "high":
        return image.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2))
    return image


def apply_mask(original: Image.Image, edited: Image.Image, mask: Image.Image) -> Image.Image:
    """Keep `original` where the mask is opaque; transparent mask pixels mark what was edited."""
    size = edited.size
    keep = ImageOps.fit(mask.convert("RGBA"), size).getchannel("A")
    base = ImageOps.fit(original.convert(edited.mode), size, Image.Resampling.BICUBIC)
    return Image.composite(base, edited, keep)


def imagine_room(spec: RenderSpec) -> Image.Image:
    """Paint a simple room (wall, floor, window, sofa, lamp) from the prompt, for generations."""
    digest = _digest("room", spec.seed, spec.prompt)
    width, height = spec.width, spec.height
    image = Image.new("RGB", (width, height), _hsv(digest[0] / 256, 0.25, 0.85))
    draw = ImageDraw.Draw(image)
    horizon = int(height * (0.55 + digest[1] / 255 * 0.15))
    draw.rectangle((0, horizon, width, height), fill=_hsv(digest[2] / 256, 0.45, 0.45))
    left = int(width * (0.1 + digest[3] / 255 * 0.4))
    draw.rectangle((left, int(height * 0.15), left + width // 4, int(height * 0.45)), fill=(225, 235, 245))
    sofa_left = int(width * (0.05 + digest[4] / 255 * 0.35))
    sofa_colour = _hsv(digest[5] / 256, 0.6, 0.6)
    draw.rectangle((sofa_left, horizon - height // 10, sofa_left + width // 2, horizon + height // 8), fill=sofa_colour)
    lamp_x = int(width * (0.7 + digest[6] / 255 * 0.2))
    radius = max(4, width // 30)
    draw.ellipse(
        (lamp_x - radius, horizon - height // 3, lamp_x + radius, horizon - height // 3 + 2 * radius),
        fill=(255, 230, 160),
    )
    return image.filter(ImageFilter.GaussianBlur(2))


def encode(image: Image.Image, output_format: str, compression: int) -> bytes:
    """Encode deterministically as PNG, JPEG or WebP."""
    buffer = io.BytesIO()
    pil_format = PIL_FORMATS[output_format]
    if pil_format == "PNG":
        # Level 1 keeps encoding fast when many requests render at once; the bytes stay deterministic.
        image.save(buffer, "PNG", compress_level=1)
    elif pil_format == "JPEG":
        image.convert("RGB").save(buffer, "JPEG", quality=max(1, min(95, compression)))
    else:
        image.save(buffer, "WEBP", quality=compression, method=0)
    return buffer.getvalue()


def render(photo: Image.Image | None, mask: Image.Image | None, spec: RenderSpec, scale: int = 1) -> bytes:
    """Produce one encoded output image for `spec`, from `photo` or, without one, from the prompt.

    `scale` > 1 paints at 1/scale of the size and enlarges the result: same size, same look, coarser detail, and
    about scale² less CPU. A real provider renders on its own machines; a benchmark's sandbox shares ours.
    """
    work = replace(spec, width=max(spec.width // scale, 1), height=max(spec.height // scale, 1)) if scale > 1 else spec
    source = photo if photo is not None else imagine_room(work)
    if photo is not None and scale > 1:
        source = ImageOps.contain(photo, (work.width * 2, work.height * 2), Image.Resampling.BILINEAR)
    image = restyle(source, work)
    if photo is not None and mask is not None:
        image = apply_mask(source, image, mask)
    if scale > 1:
        image = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    return encode(image, spec.output_format, spec.compression)


def flat(width: int, height: int, colour: tuple[int, int, int], output_format: str, compression: int) -> bytes:
    """One flat colour at the requested size and format: an answer that decodes but shows nothing."""
    return encode(Image.new("RGB", (width, height), colour), output_format, compression)


def truncate(data: bytes) -> bytes:
    """The first half of an encoded image: the right signature, but bytes that do not decode."""
    return data[: max(len(data) // 2, 16)]
