"""Webhook deliveries: signed as Standard Webhooks says, retried with the same id, logged, replayable."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from developers import webhooks
from developers.models import WebhookDelivery, WebhookEndpoint
from tests.support.api import client_for, upload_room
from tests.support.jobs import end_generation, start_generation
from tests.support.webhooks import register, verify_webhook

pytestmark = pytest.mark.django_db


def only_delivery() -> WebhookDelivery:
    (delivery,) = WebhookDelivery.objects.all()
    return delivery


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


def test_a_final_generation_is_posted_signed_to_the_endpoint(api, receiver):
    endpoint = register(api, receiver.url)
    generation = start_generation(api)
    end_generation(generation["id"], "cancelled")

    assert webhooks.deliver(str(only_delivery().pk)) == "succeeded"
    (request,) = receiver.requests
    assert request.method == "POST" and request.path == "/hooks"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"].startswith("msg_")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 10
    assert verify_webhook(endpoint["secret"], request.headers, request.body)
    assert not verify_webhook(endpoint["secret"], request.headers, request.body + b" ")

    event = request.json()
    assert event["type"] == "generation.cancelled"
    as_the_api_shows_it = api.get(f"/api/v1/generations/{generation['id']}/").json()
    assert event["data"] == as_the_api_shows_it
    delivery = only_delivery()
    assert delivery.status == "succeeded" and delivery.attempts == 1 and delivery.last_status_code == 200
    assert delivery.log[0]["address"] == "127.0.0.1"


def test_the_secret_is_standard_webhooks_shaped(api, receiver):
    secret = register(api, receiver.url)["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_failed_and_cancelled_generations_have_their_own_event_types(api, receiver):
    register(api, receiver.url)
    end_generation(start_generation(api)["id"], "failed")
    end_generation(start_generation(api)["id"], "cancelled")
    events = sorted(d.event_type for d in WebhookDelivery.objects.all())
    assert events == ["generation.cancelled", "generation.failed"]
    failed = WebhookDelivery.objects.get(event_type="generation.failed")
    assert json.loads(failed.payload)["data"]["error"] == {
        "code": "provider_error",
        "message": "The image model failed.",
    }


def test_every_active_endpoint_hears_and_disabled_ones_and_other_users_do_not(api, bob, receiver):
    first = register(api, receiver.url + "/a")
    register(api, receiver.url + "/b")
    off = register(api, receiver.url + "/off")
    assert api.post(f"/api/v1/webhook-endpoints/{off['id']}/disable/").status_code == 200
    register(client_for(bob), receiver.url + "/bob")

    end_generation(start_generation(api)["id"])
    targets = sorted(d.endpoint.url for d in WebhookDelivery.objects.select_related("endpoint"))
    assert targets == [receiver.url + "/a", receiver.url + "/b"]
    assert first["id"] in {str(d.endpoint_id) for d in WebhookDelivery.objects.all()}


def test_a_callback_url_sends_the_event_to_that_endpoint_alone(api, receiver):
    register(api, receiver.url + "/all")
    chosen = register(api, receiver.url + "/chosen")
    generation = start_generation(api, callback_url=receiver.url + "/chosen")
    end_generation(generation["id"])
    assert [str(d.endpoint_id) for d in WebhookDelivery.objects.all()] == [chosen["id"]]


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/", "https://unregistered.example.com/"],
)
def test_a_callback_url_must_be_one_of_your_registered_endpoints(api, bob, receiver, url):
    register(client_for(bob), receiver.url)  # bob's endpoint is not alice's

    room = upload_room(api).json()
    for callback in (url, receiver.url):
        response = api.post(
            "/api/v1/generations/", {"room": room["id"], "style": "modern", "callback_url": callback}, format="json"
        )
        assert response.status_code == 400, response.content
        assert "callback_url" in response.json()["error"]["fields"]


def test_a_disabled_endpoint_cannot_be_a_callback_url(api, receiver):
    endpoint = register(api, receiver.url)
    api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/disable/")

    room = upload_room(api).json()
    response = api.post(
        "/api/v1/generations/", {"room": room["id"], "style": "modern", "callback_url": receiver.url}, format="json"
    )
    assert response.status_code == 400


def test_failures_are_retried_with_backoff_and_the_same_webhook_id(api, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [10, 100, 1000]
    receiver.statuses = [500, 503, 200]
    endpoint = register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()

    waits = []
    for expected in ("pending", "pending", "succeeded"):
        before = timezone.now()
        assert webhooks.deliver(str(delivery.pk)) == expected
        delivery.refresh_from_db()
        if expected == "pending":
            waits.append((delivery.next_attempt_at - before).total_seconds())
            assert webhooks.deliver(str(delivery.pk)) is None, "not due yet: nothing is sent"
            make_due(delivery)
    assert 10 <= waits[0] < 12 and 100 <= waits[1] < 112
    assert [r.headers["webhook-id"] for r in receiver.requests] == [delivery.message_id] * 3
    assert all(verify_webhook(endpoint["secret"], r.headers, r.body) for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1
    assert [entry["status_code"] for entry in delivery.log] == [500, 503, 200]
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


def test_it_gives_up_after_the_last_retry(api, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [0, 0]
    receiver.statuses = [500]
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()
    results = [webhooks.deliver(str(delivery.pk)) for _ in range(4)]
    assert results == ["pending", "pending", "failed", None]
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3 and delivery.next_attempt_at is None


def test_a_redirect_is_a_failure_and_is_not_followed(api, receiver, trap):
    receiver.statuses = [302]
    receiver.headers = {"Location": trap.url}
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    assert webhooks.deliver(str(only_delivery().pk)) == "pending"
    delivery = only_delivery()
    assert delivery.last_status_code == 302 and "redirect" in delivery.last_error
    assert trap.connections == 0


def test_410_gone_disables_the_endpoint_at_once(api, receiver):
    receiver.statuses = [410]
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    assert webhooks.deliver(str(only_delivery().pk)) == "failed"
    endpoint = WebhookEndpoint.objects.get()
    assert not endpoint.active and endpoint.disabled_reason == "gone"
    end_generation(start_generation(api)["id"])
    assert WebhookDelivery.objects.count() == 1, "nothing more is queued for a disabled endpoint"


def test_an_endpoint_that_keeps_failing_is_disabled(api, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [0, 0, 0, 0, 0]
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 3
    settings.WEBHOOK_DISABLE_AFTER_S = 0
    receiver.statuses = [500]
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()
    assert [webhooks.deliver(str(delivery.pk)) for _ in range(2)] == ["pending", "pending"]
    assert WebhookEndpoint.objects.get().active
    webhooks.deliver(str(delivery.pk))
    endpoint = WebhookEndpoint.objects.get()
    assert not endpoint.active and endpoint.disabled_reason == "failing"
    assert webhooks.deliver(str(delivery.pk)) == "failed"  # the pending retry finds the endpoint off
    assert len(receiver.requests) == 3


def test_a_short_outage_does_not_disable_the_endpoint(api, receiver, settings):
    settings.WEBHOOK_RETRY_SCHEDULE_S = [0, 0, 0, 0, 0]
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    receiver.statuses = [500]
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()
    for _ in range(4):
        webhooks.deliver(str(delivery.pk))
    assert WebhookEndpoint.objects.get().active, "it has not been failing for hours yet"


def test_the_user_sees_the_log_and_can_replay_with_the_same_id(api, receiver, bob):
    endpoint = register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()
    webhooks.deliver(str(delivery.pk))

    listed = api.get(f"/api/v1/webhook-deliveries/?endpoint={endpoint['id']}").json()["results"]
    assert [d["id"] for d in listed] == [str(delivery.pk)]
    assert listed[0]["log"][0]["status_code"] == 200 and listed[0]["payload"]["type"] == "generation.cancelled"
    assert client_for(bob).get(f"/api/v1/webhook-deliveries/{delivery.pk}/").status_code == 404
    assert client_for(bob).post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/").status_code == 404

    replayed = api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    assert api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/").status_code == 409
    assert webhooks.deliver(str(delivery.pk)) == "succeeded"
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    assert len(WebhookDelivery.objects.get().log) == 2


def test_during_a_rotation_both_secrets_sign(api, receiver):
    endpoint = register(api, receiver.url)
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret/").json()
    assert rotated["secret"] != endpoint["secret"] and rotated["previous_secret_expires_at"]
    end_generation(start_generation(api)["id"])
    webhooks.deliver(str(only_delivery().pk))
    (request,) = receiver.requests
    assert len(request.headers["webhook-signature"].split()) == 2
    assert verify_webhook(rotated["secret"], request.headers, request.body)
    assert verify_webhook(endpoint["secret"], request.headers, request.body)

    WebhookEndpoint.objects.update(previous_secret_expires_at=timezone.now() - timedelta(seconds=1))
    end_generation(start_generation(api)["id"])
    webhooks.deliver(str(WebhookDelivery.objects.order_by("-created_at").first().pk))
    latest = receiver.requests[-1]
    assert len(latest.headers["webhook-signature"].split()) == 1
    assert verify_webhook(rotated["secret"], latest.headers, latest.body)
    assert not verify_webhook(endpoint["secret"], latest.headers, latest.body)


def test_the_sweeper_sends_deliveries_whose_message_was_lost(api, receiver):
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()
    assert delivery.dispatched_at is None  # the after-commit message never went out
    assert webhooks.sweep()["dispatched"] == 1
    assert webhooks.sweep()["dispatched"] == 0, "a message just sent is given time to arrive"
    WebhookDelivery.objects.update(dispatched_at=timezone.now() - timedelta(minutes=5))
    assert webhooks.sweep()["dispatched"] == 1


def test_a_duplicate_message_sends_once(api, receiver):
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    delivery = only_delivery()
    assert webhooks.deliver(str(delivery.pk)) == "succeeded"
    assert webhooks.deliver(str(delivery.pk)) is None
    assert webhooks.deliver("not-a-uuid") is None
    assert len(receiver.requests) == 1
