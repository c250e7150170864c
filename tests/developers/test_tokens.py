"""API tokens: made and revoked on the developers page, stored hashed, accepted as Token or Bearer."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.db import connection
from rest_framework.test import APIClient

from developers.models import ApiToken
from developers.tokens import create_token
from tests.support.api import client_for

pytestmark = pytest.mark.django_db


def create_on_the_page(client, name: str = "CI") -> str:
    response = client.post("/developers/tokens/", {"name": name})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]
    match = re.search(r'data-testid="secret">(iai_[A-Za-z0-9_-]+)<', response.content.decode())
    assert match, "the key is shown once"
    return match.group(1)


def get(key: str, scheme: str = "Token", path: str = "/api/v1/usage/"):
    return APIClient().get(path, HTTP_AUTHORIZATION=f"{scheme} {key}")


def test_a_user_creates_a_token_on_the_page_and_uses_it_as_token_or_bearer(client, alice):
    client.force_login(alice)
    key = create_on_the_page(client, "CI pipeline")
    assert get(key).status_code == 200
    assert get(key, "Bearer").status_code == 200
    assert get(key, "bearer").status_code == 200

    page = client.get("/developers/").content.decode()
    assert "CI pipeline" in page and key[:12] in page
    assert key not in page, "the key is never shown again"


def test_only_a_hash_is_stored(alice):
    token, key = create_token(alice, "hashed")
    assert token.key_hash == hashlib.sha256(key.encode()).hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, prefix, key_hash FROM developers_apitoken")
        assert key not in repr(cursor.fetchall())


def test_a_revoked_token_stops_at_once(client, alice):
    client.force_login(alice)
    key = create_on_the_page(client)
    assert get(key).status_code == 200
    token = ApiToken.objects.get(user=alice)
    response = client.post(f"/developers/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    refused = get(key)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"
    assert get(key, "Bearer").status_code == 401


def test_nobody_else_can_revoke_a_token(client, alice, bob):
    client.force_login(alice)
    key = create_on_the_page(client)
    client.force_login(bob)
    token = ApiToken.objects.get(user=alice)
    assert client.post(f"/developers/tokens/{token.pk}/revoke/").status_code == 404
    assert get(key).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Token", "Token nope", "Bearer iai_unknown", "Token a b", "Token " + "x" * 500, "Basic Zm9vOmJhcg=="],
)
def test_bad_credentials_are_401_in_the_error_envelope(alice, header):
    response = APIClient().get("/api/v1/generations/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("authentication_failed", "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_every_api_endpoint_takes_a_token(alice):

    api = client_for(alice)
    for path in (
        "/api/v1/rooms/",
        "/api/v1/generations/",
        "/api/v1/usage/",
        "/api/v1/styles/",
        "/api/v1/webhook-endpoints/",
        "/api/v1/webhook-deliveries/",
    ):
        assert api.get(path).status_code == 200, path
        assert APIClient().get(path).status_code == 401, path


def test_last_used_is_recorded(alice):
    token, key = create_token(alice, "usage")
    assert token.last_used_at is None
    get(key)
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_login_mints_a_named_token_and_keeps_the_newest_ones(alice, monkeypatch):
    monkeypatch.setattr("developers.tokens.MAX_LOGIN_TOKENS", 3)
    client = APIClient()
    keys = []
    for _ in range(5):
        response = client.post(
            "/api/v1/auth/token/", {"username": "alice", "password": "correct horse battery"}, format="json"
        )
        assert response.status_code == 200
        keys.append(response.json()["token"])
    assert len(set(keys)) == len(keys)
    assert get(keys[-1]).status_code == 200
    assert get(keys[0]).status_code == 401 and get(keys[1]).status_code == 401
    assert ApiToken.objects.filter(user=alice, name="api login", revoked_at=None).count() == 3


def test_login_tokens_never_revoke_tokens_made_on_the_page(client, alice, monkeypatch):
    monkeypatch.setattr("developers.tokens.MAX_LOGIN_TOKENS", 1)
    client.force_login(alice)
    key = create_on_the_page(client)
    for _ in range(3):
        APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "correct horse battery"})
    assert get(key).status_code == 200


def test_a_wrong_password_gets_no_token(alice):
    response = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_token_needs_a_name(client, alice):
    client.force_login(alice)
    assert client.post("/developers/tokens/", {"name": "  "}).status_code == 400
    assert not ApiToken.objects.exists()


def test_the_developers_page_needs_a_login(client):
    assert client.get("/developers/").status_code == 302
