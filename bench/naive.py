"""The naive design the product replaces: a synchronous view that calls the image provider inside the request.

It is what a first version looks like: the official SDK with its defaults (2 retries, a 600 s timeout, here scaled
to 20 s), the same photo, prompt, size and quality as the product sends, the image saved and its URL returned.
No queue, no rate limiter, no breaker, no database record of the call.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import openai
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bench.profile import scaled
from developers.tokens import token_for_key
from generation.images import output_size_for
from generation.models import Room
from generation.styles import STYLE_BY_SLUG, build_prompt

_client: openai.OpenAI | None = None


def client() -> openai.OpenAI:
    global _client
    if _client is None:
        _client = openai.OpenAI(api_key="sk-bench-naive", base_url=settings.OPENAI_BASE_URL, timeout=scaled(600))
    return _client


def error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
def generate(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return error("method_not_allowed", "POST only.", 405)
    header = request.headers.get("Authorization", "").split()
    token = token_for_key(header[1]) if len(header) == 2 else None
    if token is None:
        return error("not_authenticated", "Token required.", 401)
    try:
        body: dict[str, Any] = json.loads(request.body)
        room = Room.objects.get(pk=body["room"], owner=token.user)
    except (ValueError, KeyError, Room.DoesNotExist):
        return error("invalid", "Unknown room.", 400)
    style = body.get("style", "modern")
    if style not in STYLE_BY_SLUG:
        return error("invalid", "Unknown style.", 400)
    with room.photo.open("rb") as photo_file:
        photo = photo_file.read()
    prompt = build_prompt(style, room.room_type, str(body.get("prompt", "")))
    try:
        response = client().images.edit(
            model=settings.OPENAI_IMAGE_MODEL,
            image=("room.jpg", photo, "image/jpeg"),
            prompt=prompt,
            size=output_size_for(room.width, room.height),  # type: ignore[arg-type]
            quality=body.get("quality", "medium"),
            output_format="jpeg",
            output_compression=92,
        )
    except openai.APIStatusError as exc:
        return error(f"provider_{exc.status_code}", "The image service failed.", 502)
    except openai.APIError:
        return error("provider_unreachable", "The image service did not answer.", 504)
    names = []
    for item in response.data or []:
        if item.b64_json:
            name = f"naive/{uuid.uuid4().hex}.jpg"
            names.append(default_storage.save(name, ContentFile(base64.b64decode(item.b64_json))))
    return JsonResponse({"images": [f"/naive/media/{name.rsplit('/', 1)[-1]}" for name in names]})


def media(request: HttpRequest, name: str) -> FileResponse:
    path = f"naive/{name}"
    if "/" in name or not default_storage.exists(path):
        raise Http404
    return FileResponse(default_storage.open(path, "rb"), content_type="image/jpeg")
