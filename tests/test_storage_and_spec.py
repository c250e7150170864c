"""Media on S3 (a local S3-compatible server), and every request we send the provider matches OpenAI's spec."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests
from PIL import Image

from sandbox.spec import validate_request
from sandbox.testing import free_port
from tests.support.api import client_for, upload_room
from tests.support.images import room_photo
from tests.support.stack import Web, Worker, stack_env
from tests.support.waiting import wait_final, wait_for

pytestmark = pytest.mark.stack


def test_requests_we_send_the_provider_conform_to_the_openai_spec(worker, provider, make_user):
    user = make_user("sam", tier="pro")
    client = client_for(user)
    room = upload_room(client, room_photo(600, 900)).json()
    for quality, prompt in (("low", ""), ("high", "warm oak floors"), ("auto", "more plants")):
        response = client.post(
            "/api/v1/generations/",
            {"room": room["id"], "style": "japandi", "quality": quality, "prompt": prompt, "n": 2},
            format="json",
        )
        assert response.status_code == 202, response.content
        assert wait_final(response.json()["id"]).status == "succeeded"
    recorded = [r for r in provider.requests() if r["endpoint"] == "/v1/images/edits"]
    assert len(recorded) == 3
    for request in recorded:
        assert validate_request("/v1/images/edits", request["fields"]) == []
        assert request["fields"]["size"] == "1024x1536"  # portrait photo, portrait redesign
    # The validator is not a rubber stamp.
    assert validate_request("/v1/images/edits", {**recorded[0]["fields"], "quality": "ultra"})


@pytest.fixture
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - Flask and every AWS mock, a second to import

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_media_can_live_in_a_private_s3_bucket_behind_signed_urls(
    s3_server, provider, make_user, tmp_path: Path, transactional_db
):
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_S3_REGION_NAME": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="interiorai-media")
    env = stack_env(
        provider,
        AWS_STORAGE_BUCKET_NAME="interiorai-media",
        AWS_S3_ENDPOINT_URL=s3_server,
        AWS_QUERYSTRING_EXPIRE="10",
        **credentials,
    )
    web = Web(env, tmp_path / "web.log")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        make_user("sara")
        session = requests.Session()
        token = session.post(
            f"{web.url}/api/v1/auth/token/", json={"username": "sara", "password": "correct horse battery"}
        )
        session.headers["Authorization"] = f"Token {token.json()['token']}"
        room = session.post(
            f"{web.url}/api/v1/rooms/",
            files={"photo": ("r.jpg", room_photo(), "image/jpeg")},
            data={"room_type": "living_room"},
        ).json()
        created = session.post(f"{web.url}/api/v1/generations/", json={"room": room["id"], "style": "coastal"}).json()
        done = wait_for(
            lambda: (
                (g := session.get(f"{web.url}/api/v1/generations/{created['id']}/").json())["status"] == "succeeded"
                and g
            ),
            60,
            0.2,
            "the generation",
        )
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="interiorai-media")["Contents"])
        assert any(k.startswith("rooms/") for k in keys) and any(k.startswith("results/") for k in keys)

        # Nothing is public: the bucket refuses anonymous reads, the app hands the owner a signed URL.
        anonymous = requests.get(f"{s3_server}/interiorai-media/{keys[0]}")
        assert anonymous.status_code == 403
        redirect = session.get(web.url + done["images"][0], allow_redirects=False)
        assert redirect.status_code == 302 and "Signature" in redirect.headers["Location"]
        image = requests.get(redirect.headers["Location"])
        assert image.status_code == 200
        assert Image.open(io.BytesIO(image.content)).size == (1536, 1024)
        other = requests.Session()
        make_user("sid")
        other_token = other.post(
            f"{web.url}/api/v1/auth/token/", json={"username": "sid", "password": "correct horse battery"}
        )
        other.headers["Authorization"] = f"Token {other_token.json()['token']}"
        assert other.get(web.url + done["images"][0], allow_redirects=False).status_code == 404
        # Signed for AWS_QUERYSTRING_EXPIRE seconds only (moto does not enforce expiry; S3 does).
        expires = int(parse_qs(urlparse(redirect.headers["Location"]).query)["Expires"][0])
        assert time.time() < expires <= time.time() + 11
    finally:
        worker.stop()
        web.stop()
