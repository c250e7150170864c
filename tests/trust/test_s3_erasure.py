"""On S3 too (moto's server), deleting an account leaves nothing of the user in the bucket, and others' files stay."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from django.contrib.auth.models import User

from generation.models import Generation
from tests.support.images import room_photo
from tests.support.stack import Web, Worker, stack_env
from tests.support.storage import bucket_keys, moto_server, names_of
from tests.support.waiting import wait_for

pytestmark = pytest.mark.stack
BUCKET = "interiorai-media"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_S3_REGION_NAME": "us-east-1"}


@pytest.fixture
def s3_stack(provider: Any, tmp_path: Path, transactional_db: None) -> Iterator[tuple[Web, Any]]:
    with moto_server() as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket=BUCKET)
        env = stack_env(provider, AWS_STORAGE_BUCKET_NAME=BUCKET, AWS_S3_ENDPOINT_URL=endpoint, **CREDENTIALS)
        web = Web(env, tmp_path / "web.log")
        worker = Worker(env, tmp_path / "worker.log").start()
        try:
            yield web, s3
        finally:
            worker.stop()
            web.stop()


def signed_in(web: Web, username: str) -> requests.Session:
    session = requests.Session()
    token = session.post(
        f"{web.url}/api/v1/auth/token/", json={"username": username, "password": "correct horse battery"}
    )
    session.headers["Authorization"] = f"Token {token.json()['token']}"
    return session


def redesign(web: Web, session: requests.Session, seed: int) -> dict[str, Any]:
    room = session.post(
        f"{web.url}/api/v1/rooms/",
        files={"photo": ("r.jpg", room_photo(seed=seed), "image/jpeg")},
        data={"room_type": "bedroom"},
    ).json()
    created = session.post(f"{web.url}/api/v1/generations/", json={"room": room["id"], "style": "coastal"}).json()
    url = f"{web.url}/api/v1/generations/{created['id']}/"
    return wait_for(lambda: (g := session.get(url).json())["status"] == "succeeded" and g, 60, 0.2, "the generation")


def test_an_account_deleted_on_s3_leaves_no_object_of_the_user(s3_stack, make_user):
    web, s3 = s3_stack
    make_user("sara")
    make_user("sid")
    sara, sid = signed_in(web, "sara"), signed_in(web, "sid")
    redesign(web, sara, 1)
    redesign(web, sara, 2)
    redesign(web, sid, 3)
    hers = names_of(User.objects.get(username="sara"))
    her_folders = {
        f"results/{pk.hex}/" for pk in Generation.objects.filter(owner__username="sara").values_list("pk", flat=True)
    }
    his = names_of(User.objects.get(username="sid"))
    assert len(hers) == 4 and len(his) == 2, "two photos and two results of hers, one of each of his"
    assert hers | his <= bucket_keys(s3, BUCKET)

    export = sara.get(f"{web.url}/api/v1/account/export/")
    assert export.status_code == 200 and export.headers["Content-Type"] == "application/zip"
    assert len([n for n in zipfile.ZipFile(io.BytesIO(export.content)).namelist() if n.endswith(".jpg")]) == 4

    deleted = sara.delete(f"{web.url}/api/v1/account/", json={"confirm": "sara"})
    assert deleted.status_code == 204, deleted.text
    left = bucket_keys(s3, BUCKET)
    assert not hers & left and not any(key.startswith(tuple(her_folders)) for key in left), "nothing of hers is left"
    assert his <= left, "all of his is there"
    assert sara.get(f"{web.url}/api/v1/usage/").status_code == 401
    assert sid.get(f"{web.url}/api/v1/generations/").json()["count"] == 1
