"""Generations made and ended as the product does it: through the API, the services, and a worker's calls."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from generation import finish
from generation.files import store_images
from generation.models import Generation, ProviderCall
from generation.rooms import create_room
from generation.runtime import leases
from generation.services import create_generation
from tests.support.api import client_for, upload_room
from tests.support.images import room_photo

WORKER = "test-worker"


def submit(user: Any, count: int, **fields: Any) -> list[str]:
    """POST `count` generations for one new room of the user's; their ids."""
    client = client_for(user)
    room = upload_room(client).json()["id"]
    ids = []
    for index in range(count):
        body = {"room": room, "style": "modern", "quality": "low", "prompt": f"job {index}", **fields}
        response = client.post("/api/v1/generations/", body, format="json")
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    return ids


def recorded_calls() -> int:
    return ProviderCall.objects.count()


def start_generation(client: Any, **fields: Any) -> dict[str, Any]:
    room = upload_room(client).json()
    response = client.post("/api/v1/generations/", {"room": room["id"], "style": "modern", **fields}, format="json")
    assert response.status_code == 202, response.content
    return dict(response.json())


def end_generation(generation_id: str, how: str = "cancelled") -> Any:
    """Cancel or fail the generation through the services, as the API and the worker do."""
    generation = Generation.objects.get(pk=generation_id)
    if how == "cancelled":
        assert finish.cancel(generation)
    else:
        assert finish.fail(generation, code="provider_error", message="The image model failed.")
    generation.refresh_from_db()
    return generation


def make_room(user: Any, width: int = 800, height: int = 600) -> Any:
    return create_room(user, name="Lounge", room_type="living_room", photo_bytes=room_photo(width, height))


def create(user: Any, room: Any, **fields: Any) -> Any:
    spec = {"style": "modern", "room_type": "living_room", "prompt": "", "quality": "low", "n": 1, **fields}
    return create_generation(user, room, **spec)


def succeed(generation: Any, cost: Decimal | str | None = None) -> Any:
    """Run the job the way a worker ends it: claim it, then finish it with `cost` (its estimate by default)."""
    claimed = leases.claim(str(generation.pk), WORKER)
    assert claimed is not None, "the job could not be claimed"
    charge = generation.estimated_cost_usd if cost is None else Decimal(cost)
    names = [f"results/{generation.pk.hex}/{index}.jpg" for index in range(generation.n)]  # never read here
    assert finish.succeed(claimed, WORKER, image_names=names, cost=charge)
    claimed.refresh_from_db()
    return claimed


def fail(generation: Any, code: str = "provider_error") -> Any:
    assert finish.fail(generation, code=code, message="The provider failed. You were not charged.")
    generation.refresh_from_db()
    return generation


def succeed_with_files(generation: Any, cost: Decimal | str | None = None) -> Any:
    """Like `succeed`, with real image files in storage, as a worker stores them."""
    claimed = leases.claim(str(generation.pk), WORKER)
    assert claimed is not None, "the job could not be claimed"
    charge = generation.estimated_cost_usd if cost is None else Decimal(cost)
    names = store_images(claimed, [room_photo(seed=index + 1) for index in range(generation.n)])
    assert finish.succeed(claimed, WORKER, image_names=names, cost=charge)
    claimed.refresh_from_db()
    return claimed
