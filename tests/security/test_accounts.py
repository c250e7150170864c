"""Credential stuffing, forged client addresses and scripted sign-ups, tried against the live web server."""

from __future__ import annotations

import re
import time
from urllib.parse import urlparse

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client

from tests.support.api import client_for, upload_room
from tests.support.stack import Web

pytestmark = pytest.mark.stack
PASSWORD = "correct horse battery"


def token_login(web: Web, username: str, password: str, **headers: str) -> requests.Response:
    body = {"username": username, "password": password}
    return requests.post(f"{web.url}/api/v1/auth/token/", json=body, headers=headers, timeout=10)


def form_login(web: Web, path: str, username: str, password: str) -> requests.Response:
    session = requests.Session()
    page = session.get(f"{web.url}{path}", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    data = {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    return session.post(f"{web.url}{path}", data=data, headers={"Referer": f"{web.url}{path}"}, timeout=10)


def test_twelve_wrong_passwords_lock_the_api_login_even_for_the_right_one(web, alice):
    for _ in range(12):
        assert token_login(web, "alice", "wrong").status_code in (400, 429)
    locked = token_login(web, "alice", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "locked_out"
    assert int(locked.headers["Retry-After"]) > 0


def test_the_lock_out_says_the_same_whether_the_user_exists_or_not(web_with, alice):
    web = web_with(LOGIN_FAILURE_LIMIT="3", TRUSTED_PROXIES="127.0.0.1")
    answers = {}
    for username, address in (("alice", "203.0.113.1"), ("nobody-at-all", "203.0.113.2")):
        # Each from its own (proxied) address, so only the username's count locks.
        first = [token_login(web, username, "wrong", **{"X-Forwarded-For": address}) for _ in range(3)]
        assert [r.json()["error"]["message"] for r in first[:2]] == ["Unable to log in with these credentials."] * 2
        answers[username] = token_login(web, username, "wrong", **{"X-Forwarded-For": address})
    assert answers["alice"].status_code == answers["nobody-at-all"].status_code == 429
    assert answers["alice"].json() == answers["nobody-at-all"].json()


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_web_and_admin_logins_lock_out_too(web_with, make_user, path):
    make_user("staff")
    web = web_with(LOGIN_FAILURE_LIMIT="3")
    for _ in range(2):
        assert form_login(web, path, "staff", "wrong").status_code == 200  # the form again, with its error
    form_login(web, path, "staff", "wrong")  # the third failure: locked from now on
    locked = form_login(web, path, "staff", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.text


def test_one_address_trying_many_usernames_is_locked_out(web_with, alice):
    web = web_with(LOGIN_FAILURE_LIMIT="3")
    for name in ("ann", "ben", "cid"):
        token_login(web, name, "wrong")
    assert token_login(web, "alice", PASSWORD).status_code == 429, "the address is locked, whoever it names"


def test_a_forged_forwarded_for_never_resets_the_count(web_with, alice):
    web = web_with(LOGIN_FAILURE_LIMIT="3")  # no TRUSTED_PROXIES: the header is nobody's to believe
    for index in range(3):
        token_login(web, f"user{index}", "wrong", **{"X-Forwarded-For": f"198.51.100.{index}"})
    fresh = token_login(web, "alice", PASSWORD, **{"X-Forwarded-For": "198.51.100.99"})
    assert fresh.status_code == 429


def test_a_configured_proxy_is_believed(web_with, alice):
    web = web_with(LOGIN_FAILURE_LIMIT="3", TRUSTED_PROXIES="127.0.0.1")
    for index in range(3):
        token_login(web, f"user{index}", "wrong", **{"X-Forwarded-For": "198.51.100.7"})
    assert token_login(web, "alice", PASSWORD, **{"X-Forwarded-For": "198.51.100.7"}).status_code == 429
    assert token_login(web, "alice", PASSWORD, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_the_lock_out_ends_after_its_cool_off(web_with, alice):
    web = web_with(LOGIN_FAILURE_LIMIT="2", LOGIN_COOLOFF_S="2")
    for _ in range(2):
        token_login(web, "alice", "wrong")
    assert token_login(web, "alice", PASSWORD).status_code == 429
    time.sleep(2.5)
    again = token_login(web, "alice", PASSWORD)
    assert again.status_code == 200, again.text


def signup(web: Web, username: str, **headers: str) -> requests.Response:
    session = requests.Session()
    page = session.get(f"{web.url}/accounts/signup/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token
    data = {
        "username": username,
        "email": f"{username}@example.com",
        "password1": "a long enough passphrase",
        "password2": "a long enough passphrase",
        "csrfmiddlewaretoken": token.group(1),
    }
    return session.post(
        f"{web.url}/accounts/signup/",
        data=data,
        headers={"Referer": f"{web.url}/accounts/signup/", **headers},
        allow_redirects=False,
        timeout=10,
    )


def test_sign_ups_are_throttled_per_address(web_with):
    web = web_with(SIGNUP_RATE="3/hour")
    assert [signup(web, f"bot{i}", **{"X-Forwarded-For": f"192.0.2.{i}"}).status_code for i in range(3)] == [302] * 3
    refused = signup(web, "bot9", **{"X-Forwarded-For": "192.0.2.99"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


@pytest.mark.django_db
def test_email_verification_gates_the_first_generation(settings, client: Client) -> None:
    settings.SIGNUP_EMAIL_VERIFICATION = True
    data = {"username": "newbie", "email": "newbie@example.com", "password1": "a long enough passphrase"}
    assert client.post("/accounts/signup/", {**data, "password2": data["password1"]}).status_code == 302
    (message,) = mail.outbox
    link = re.search(r"https?://\S+/accounts/verify/\S+/", message.body)
    assert link, message.body
    api = client_for(get_user_model().objects.get(username="newbie"))
    room = upload_room(api).json()["id"]
    refused = api.post("/api/v1/generations/", {"room": room, "style": "modern"}, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "email_unverified"
    page = client.post(f"/rooms/{room}/", {"style": "modern", "room_type": "living_room", "quality": "low", "n": 1})
    assert page.status_code == 403 and "Confirm your email address first" in page.content.decode()
    client.get(urlparse(link.group(0)).path)
    assert api.post("/api/v1/generations/", {"room": room, "style": "modern"}, format="json").status_code == 202


@pytest.mark.django_db
def test_without_verification_an_email_is_optional_and_nothing_waits(client: Client) -> None:
    data = {"username": "plain", "password1": "a long enough passphrase", "password2": "a long enough passphrase"}
    assert client.post("/accounts/signup/", data).status_code == 302
    api = client_for(get_user_model().objects.get(username="plain"))
    room = upload_room(api).json()["id"]
    assert api.post("/api/v1/generations/", {"room": room, "style": "modern"}, format="json").status_code == 202
