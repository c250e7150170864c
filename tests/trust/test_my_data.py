"""My data, my call: a generation, a room or the whole account deleted on request, and everything exported."""

from __future__ import annotations

import io
import itertools
import json
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.test import Client

from billing.models import Account, LedgerEntry
from developers.models import ApiToken
from generation import finish, privacy
from generation.models import Generation, Room
from generation.runtime import leases
from tests.support.api import client_for
from tests.support.billing import assert_balanced
from tests.support.jobs import create, make_room, succeed_with_files
from tests.support.storage import local_folders, local_names, names_of

pytestmark = pytest.mark.django_db


ROOMS = itertools.count()


def designs(user: Any, count: int = 2) -> tuple[Room, list[Generation]]:
    """A room of the user's (a photo of its own) with `count` succeeded generations, their images really stored."""
    room = make_room(user, width=640 + next(ROOMS))
    return room, [succeed_with_files(create(user, room, prompt=f"design {i}")) for i in range(count)]


def rendering(user: Any) -> Generation:
    """A job a worker holds whose provider call has been recorded (sent)."""
    generation = leases.claim(str(create(user, make_room(user)).pk), "w")
    assert generation is not None
    leases.start_call(generation, "sandbox", "gpt-image-1")
    return generation


# One generation --------------------------------------------------------------------------------------


def test_deleting_a_generation_removes_it_and_its_images_and_keeps_the_books(alice, bob):
    _, (kept, gone) = designs(alice)
    _, (bobs,) = designs(bob, 1)
    before = local_names()
    client = client_for(alice)
    assert client.delete(f"/api/v1/generations/{gone.pk}/").status_code == 204
    assert not Generation.objects.filter(pk=gone.pk).exists()
    assert local_names() == before - set(gone.images)
    assert f"results/{gone.pk.hex}" not in local_folders(), "not even its empty folder is left"
    assert client.get(f"/api/v1/generations/{kept.pk}/").status_code == 200
    assert client.delete(f"/api/v1/generations/{bobs.pk}/").status_code == 404, "never someone else's"
    assert set(bobs.images) <= local_names()
    entries = LedgerEntry.objects.filter(account__user=alice, kind=LedgerEntry.Kind.CAPTURE)
    assert entries.count() == 2 and entries.filter(generation=None).count() == 1, "the charge stays on the books"
    assert_balanced(alice)


def test_files_a_cut_short_store_left_in_its_folder_go_too(alice):
    _, (generation,) = designs(alice, 1)
    stray = default_storage.save(f"results/{generation.pk.hex}/half-stored-0.jpg", ContentFile(b"partial"))
    assert client_for(alice).delete(f"/api/v1/generations/{generation.pk}/").status_code == 204
    assert stray not in local_names() and f"results/{generation.pk.hex}" not in local_folders()


def test_a_queued_generation_is_cancelled_uncharged_then_deleted(alice):
    generation = create(alice, make_room(alice))
    assert client_for(alice).delete(f"/api/v1/generations/{generation.pk}/").status_code == 204
    account = assert_balanced(alice)
    assert (account.reserved_usd, account.spend_usd, account.generations_used) == (0, 0, 0)


def test_an_image_another_generation_shows_is_kept_until_that_one_goes(alice):
    room = make_room(alice)
    source = succeed_with_files(create(alice, room, prompt="oak"))
    copy = create(alice, room, prompt="oak")
    assert copy.cached and copy.images == source.images
    client = client_for(alice)
    assert client.delete(f"/api/v1/generations/{source.pk}/").status_code == 204
    assert set(source.images) <= local_names() and client.get(f"/media/generations/{copy.pk}/0/").status_code == 200
    assert client.delete(f"/api/v1/generations/{copy.pk}/").status_code == 204
    assert not set(source.images) & local_names()


def test_a_generation_the_model_is_rendering_answers_409_and_stays(alice):
    generation = rendering(alice)
    response = client_for(alice).delete(f"/api/v1/generations/{generation.pk}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_rendering"
    assert Generation.objects.get(pk=generation.pk).status == "running"


def test_the_generation_page_has_a_delete_button(alice):
    _, (generation,) = designs(alice, 1)
    page = Client()
    page.force_login(alice)
    html = page.get(f"/generations/{generation.pk}/").content.decode()
    assert f'action="/generations/{generation.pk}/delete/"' in html
    followed = page.post(f"/generations/{generation.pk}/delete/", follow=True)
    assert "were deleted" in followed.content.decode()
    assert not Generation.objects.filter(pk=generation.pk).exists() and not set(generation.images) & local_names()


# A room ----------------------------------------------------------------------------------------------


def test_deleting_a_room_removes_its_photo_and_every_image_made_from_it(alice, bob):
    room, made = designs(alice)
    other_room, others = designs(alice, 1)
    designs(bob, 1)
    queued = create(alice, room, prompt="queued one")
    mine = {room.photo.name} | {name for g in made for name in g.images}
    bobs = names_of(bob)
    client = client_for(alice)
    assert client.delete(f"/api/v1/rooms/{room.pk}/").status_code == 204
    assert not mine & local_names()
    assert not Generation.objects.filter(pk__in=[g.pk for g in made] + [queued.pk]).exists()
    assert names_of(alice) <= local_names() and {other_room.photo.name, *others[0].images} <= local_names()
    assert bobs <= local_names()
    account = assert_balanced(alice)
    assert account.reserved_usd == 0, "the queued job's hold was released"


def test_a_room_whose_job_is_rendering_answers_409_and_nothing_is_deleted(alice):
    generation = rendering(alice)
    before = local_names()
    response = client_for(alice).delete(f"/api/v1/rooms/{generation.room_id}/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "already_rendering"
    assert Room.objects.filter(pk=generation.room_id).exists() and local_names() == before


# The account ------------------------------------------------------------------------------------------


def test_deleting_the_account_needs_the_username_as_confirmation(alice):
    client = client_for(alice)
    for body in ({}, {"confirm": "bob"}, {"confirm": "ALICE"}):
        response = client.delete("/api/v1/account/", body, format="json")
        assert response.status_code == 400, body
    assert User.objects.get(pk=alice.pk).is_active


def test_deleting_the_account_erases_every_file_and_row_and_keeps_the_books_anonymous(alice, bob):
    designs(alice, 2)
    designs(alice, 1)
    queued = create(alice, make_room(alice), prompt="still waiting")
    assert queued.status == "queued"
    designs(bob, 1)
    alices, bobs = names_of(alice), names_of(bob)
    assert alices and bobs
    her_folders = {f"results/{pk.hex}" for pk in Generation.objects.filter(owner=alice).values_list("pk", flat=True)}
    account_id = Account.objects.get(user=alice).pk
    charged = Account.objects.get(user=alice).spend_usd
    client, bob_client = client_for(alice), client_for(bob)

    response = client.delete("/api/v1/account/", {"confirm": "alice"}, format="json")

    assert response.status_code == 204, response.content
    assert not alices & local_names(), "no photo or result of hers is left"
    assert not her_folders & local_folders(), "nor a folder named after a generation of hers"
    assert bobs <= local_names(), "bob's files are untouched"
    assert not User.objects.filter(pk=alice.pk).exists()
    assert not Room.objects.filter(owner_id=alice.pk).exists() and not Generation.objects.filter(owner_id=alice.pk)
    assert not ApiToken.objects.filter(user_id=alice.pk).exists()
    assert client.get("/api/v1/usage/").status_code == 401, "her token no longer works"
    closed = Account.objects.get(pk=account_id)
    assert closed.user is None and closed.closed_at is not None
    assert (closed.reserved_usd, closed.spend_usd) == (0, charged), "the queued job's hold was released"
    kinds = set(closed.ledger.values_list("kind", flat=True))
    assert {"reserve", "capture", "release"} <= kinds and not closed.ledger.exclude(generation=None).exists()
    call_command("check_ledger")  # the anonymised account still equals its ledger
    assert bob_client.get("/api/v1/usage/").status_code == 200
    assert bob_client.get("/api/v1/generations/").json()["count"] == 1


def test_the_page_asks_for_the_password_and_logs_out(alice):
    designs(alice, 1)
    mine = names_of(alice)
    page = Client()
    page.force_login(alice)
    assert 'name="password"' in page.get("/account/").content.decode()
    wrong = page.post("/account/delete/", {"password": "guess"})
    assert wrong.status_code == 400 and User.objects.filter(pk=alice.pk).exists()
    done = page.post("/account/delete/", {"password": "correct horse battery"}, follow=True)
    assert "were deleted" in done.content.decode()
    assert not User.objects.filter(pk=alice.pk).exists() and not mine & local_names()
    assert page.get("/").status_code == 302, "signed out"


@pytest.mark.django_db(transaction=True)
def test_an_account_too_large_for_the_request_is_closed_at_once_and_erased_by_the_sweep(alice, settings):
    settings.ACCOUNT_ERASE_INLINE_FILES = 0
    designs(alice, 1)
    mine = names_of(alice)
    client = client_for(alice)
    response = client.delete("/api/v1/account/", {"confirm": "alice"}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "deleting"
    assert not User.objects.get(pk=alice.pk).is_active
    assert client.get("/api/v1/usage/").status_code == 401, "signed out at once"
    assert Account.objects.get(user=alice).closing_since is not None
    assert privacy.erase_closing_accounts() == 1
    assert not User.objects.filter(pk=alice.pk).exists() and not mine & local_names()


@pytest.mark.django_db(transaction=True)
def test_a_rendering_job_is_delivered_and_charged_before_the_account_is_erased(alice):
    generation = rendering(alice)
    response = client_for(alice).delete("/api/v1/account/", {"confirm": "alice"}, format="json")
    assert response.status_code == 202
    assert privacy.erase_closing_accounts() == 0, "it waits for the job"
    assert finish.succeed(generation, "w", image_names=[], cost=generation.estimated_cost_usd)  # the worker's end
    assert privacy.erase_closing_accounts() == 1
    closed = Account.objects.get(closed_at__isnull=False)
    assert closed.spend_usd == generation.estimated_cost_usd and closed.reserved_usd == 0, "charged, on the books"


# Export ------------------------------------------------------------------------------------------------


def test_the_export_is_a_zip_of_my_photos_results_and_one_json_file(alice, bob):
    room, made = designs(alice, 2)
    designs(bob, 1)
    response = client_for(alice).get("/api/v1/account/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert names == {"data.json", f"photos/{room.pk}.jpg", *(f"results/{g.pk}-0.jpg" for g in made)}
    data = json.loads(archive.read("data.json"))
    assert [r["id"] for r in data["rooms"]] == [str(room.pk)]
    assert {g["id"] for g in data["generations"]} == {str(g.pk) for g in made}
    assert {g["prompt"] for g in data["generations"]} == {"design 0", "design 1"}
    assert {e["kind"] for e in data["ledger"]} == {"reserve", "capture"} and data["user"]["username"] == "alice"
    assert archive.read(f"photos/{room.pk}.jpg") == room.photo.open("rb").read()


def test_the_account_page_offers_the_export(alice):
    page = Client()
    page.force_login(alice)
    assert 'href="/api/v1/account/export/"' in page.get("/account/").content.decode()
    assert page.get("/api/v1/account/export/").status_code == 200, "the button works with the browser's session"
