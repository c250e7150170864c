"""The server-rendered pages: the hooks browser tests rely on, forms, CSRF, ownership and bad uploads."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from billing.models import Account
from generation.models import Generation, Room
from tests.support.images import room_photo

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice_client(alice: Any) -> Client:
    client = Client()
    client.force_login(alice)
    return client


def upload(client: Client, photo: bytes | None = None, **fields: Any) -> Any:
    data = {"name": "Lounge", "room_type": "living_room", **fields}
    if photo is not None:
        data["photo"] = SimpleUploadedFile("room.jpg", photo, "image/jpeg")
    return client.post("/rooms/new/", data)


def test_pages_need_a_login(client: Client) -> None:
    for path in ("/", "/rooms/new/", "/generations/"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), path


def test_login_page_has_the_contract_fields(client: Client) -> None:
    html = client.get("/accounts/login/").content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert "csrfmiddlewaretoken" in html


def test_signup_creates_an_account_and_lands_on_the_upload_page(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "dora", "email": "", "password1": "correct horse battery", "password2": "correct horse battery"},
    )
    assert response.status_code == 302 and response["Location"] == "/rooms/new/"
    assert client.get("/").status_code == 200
    assert Account.objects.filter(user__username="dora").exists()


def test_signup_explains_what_is_wrong(client: Client) -> None:
    response = client.post("/accounts/signup/", {"username": "dora", "password1": "123", "password2": "456"})
    assert response.status_code == 400
    assert "password fields didn" in response.content.decode()


def test_logout_asks_on_get_and_logs_out_on_post(alice_client: Client) -> None:
    assert alice_client.get("/accounts/logout/").status_code == 200
    assert alice_client.get("/").status_code == 200
    response = alice_client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert alice_client.get("/").status_code == 302


def test_upload_page_offers_a_photo_input(alice_client: Client) -> None:
    html = alice_client.get("/rooms/new/").content.decode()
    assert re.search(r'<input type="file" name="photo"', html)


def test_an_upload_lands_on_a_generation_form_with_styles(alice_client: Client, alice: Any) -> None:
    response = upload(alice_client, room_photo())
    room = Room.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/rooms/{room.pk}/"
    html = alice_client.get(response["Location"]).content.decode()
    assert html.count('type="radio" name="style"') == 10
    assert 'type="submit"' in html


@pytest.mark.parametrize(
    ("photo", "message"),
    [
        (b"this is not an image", "not a readable image"),
        (b"", "Choose a photo"),
        (room_photo(40, 40), "at least 64 pixels"),
    ],
)
def test_a_bad_file_gets_a_clear_message(alice_client: Client, photo: bytes, message: str) -> None:
    response = upload(alice_client, photo if photo else None)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Room.objects.exists()


def test_a_too_large_file_is_refused_before_it_is_read(alice_client: Client, settings: Any) -> None:
    settings.MAX_UPLOAD_BYTES = 2048
    response = upload(alice_client, room_photo())
    assert response.status_code == 413
    assert "larger than" in response.content.decode()


def test_generating_lands_on_the_generation_page(alice_client: Client, alice: Any) -> None:
    upload(alice_client, room_photo())
    room = Room.objects.get(owner=alice)
    response = alice_client.post(
        f"/rooms/{room.pk}/", {"style": "japandi", "room_type": "bedroom", "quality": "low", "prompt": "keep the rug"}
    )
    generation = Generation.objects.get(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/generations/{generation.pk}/"
    assert (generation.style, generation.room_type, generation.quality, generation.prompt) == (
        "japandi",
        "bedroom",
        "low",
        "keep the rug",
    )
    html = alice_client.get(response["Location"]).content.decode()
    assert 'data-testid="status"' in html and ">Queued<" in html
    assert re.search(r'data-testid="progress"[^>]*aria-valuenow="0"', html)
    assert 'id="generation-initial"' in html


def test_the_generation_form_refuses_a_quality_the_plan_lacks(alice_client: Client, alice: Any) -> None:
    upload(alice_client, room_photo())
    room = Room.objects.get(owner=alice)
    response = alice_client.post(f"/rooms/{room.pk}/", {"style": "modern", "room_type": "bedroom", "quality": "high"})
    assert response.status_code == 403
    assert "The Free plan offers" in response.content.decode()
    assert not Generation.objects.exists()


def test_generate_again_makes_a_new_variant_and_cancel_releases_it(alice_client: Client, alice: Any) -> None:
    upload(alice_client, room_photo())
    room = Room.objects.get(owner=alice)
    alice_client.post(f"/rooms/{room.pk}/", {"style": "coastal", "room_type": "bedroom", "quality": "low"})
    first = Generation.objects.get(owner=alice)
    response = alice_client.post(f"/generations/{first.pk}/again/")
    second = Generation.objects.exclude(pk=first.pk).get(owner=alice)
    assert response["Location"] == f"/generations/{second.pk}/"
    assert (second.style, second.variant) == ("coastal", first.variant + 1)
    alice_client.post(f"/generations/{second.pk}/cancel/")
    second.refresh_from_db()
    assert second.status == Generation.Status.CANCELLED


def test_someone_elses_room_and_generation_are_not_found(alice_client: Client, alice: Any, bob: Any) -> None:
    upload(alice_client, room_photo())
    room = Room.objects.get(owner=alice)
    alice_client.post(f"/rooms/{room.pk}/", {"style": "modern", "room_type": "bedroom", "quality": "low"})
    generation = Generation.objects.get(owner=alice)
    bob_client = Client()
    bob_client.force_login(bob)
    for path in (f"/rooms/{room.pk}/", f"/generations/{generation.pk}/"):
        response = bob_client.get(path)
        assert response.status_code == 404, path
        assert "find that page" in response.content.decode()
    for action in ("cancel", "again"):
        assert bob_client.post(f"/generations/{generation.pk}/{action}/").status_code == 404, action
    assert bob_client.post(f"/rooms/{room.pk}/delete/").status_code == 404
    assert "Lounge" not in bob_client.get("/").content.decode()
    assert bob_client.get("/generations/").content.decode().count("data-generation=") == 0
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED


def test_every_form_needs_a_csrf_token(alice: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert upload(client, room_photo()).status_code == 403
    assert client.post("/accounts/logout/").status_code == 403
    html = client.get("/rooms/new/").content.decode()
    assert "csrfmiddlewaretoken" in html


def test_pages_never_carry_the_provider_key(alice_client: Client, alice: Any, settings: Any) -> None:
    settings.OPENAI_API_KEY = "sk-test-never-in-a-page"
    upload(alice_client, room_photo())
    room = Room.objects.get(owner=alice)
    alice_client.post(f"/rooms/{room.pk}/", {"style": "modern", "room_type": "bedroom", "quality": "low"})
    generation = Generation.objects.get(owner=alice)
    for path in ("/", f"/rooms/{room.pk}/", f"/generations/{generation.pk}/", "/generations/"):
        assert "sk-test-never-in-a-page" not in alice_client.get(path).content.decode(), path
