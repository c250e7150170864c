"""Webhook endpoints through the API and the developers page: register, list, disable, rotate, delete."""

from __future__ import annotations

import re

import pytest

from developers import webhooks
from developers.models import WebhookDelivery, WebhookEndpoint
from tests.support.api import client_for
from tests.support.jobs import end_generation, start_generation
from tests.support.webhooks import register

pytestmark = pytest.mark.django_db


def test_registering_answers_the_secret_once(api, receiver):
    created = api.post("/api/v1/webhook-endpoints/", {"url": receiver.url, "description": "prod"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["url"] == receiver.url and body["secret"].startswith("whsec_") and body["active"] is True
    listed = api.get("/api/v1/webhook-endpoints/").json()["results"]
    assert [e["id"] for e in listed] == [body["id"]]
    assert "secret" not in listed[0]
    one = api.get(f"/api/v1/webhook-endpoints/{body['id']}/").json()
    assert "secret" not in one and one["description"] == "prod"
    assert receiver.connections == 0, "registering does not call the receiver"


def test_endpoints_are_private(api, bob, receiver):
    endpoint = register(api, receiver.url)
    other = client_for(bob)
    assert other.get("/api/v1/webhook-endpoints/").json()["results"] == []
    for method, suffix in (("get", ""), ("delete", ""), ("post", "disable/"), ("post", "rotate-secret/")):
        response = getattr(other, method)(f"/api/v1/webhook-endpoints/{endpoint['id']}/{suffix}")
        assert response.status_code == 404, (method, suffix)
    assert WebhookEndpoint.objects.get().secret == endpoint["secret"]


def test_disable_enable_and_delete(api, receiver):
    endpoint = register(api, receiver.url)
    disabled = api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/disable/").json()
    assert disabled["active"] is False and disabled["disabled_reason"] == "user"
    enabled = api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/enable/").json()
    assert enabled["active"] is True and enabled["disabled_reason"] == ""
    assert api.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}/").status_code == 204
    assert api.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/").status_code == 404


def test_rotating_answers_a_new_secret(api, receiver):
    endpoint = register(api, receiver.url)
    rotated = api.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != endpoint["secret"]
    stored = WebhookEndpoint.objects.get()
    assert stored.previous_secret == endpoint["secret"] and stored.secret == rotated.json()["secret"]


def test_one_endpoint_per_url_and_a_limit_per_user(api, receiver, settings):
    settings.WEBHOOK_MAX_ENDPOINTS = 2
    register(api, receiver.url)
    again = api.post("/api/v1/webhook-endpoints/", {"url": receiver.url}, format="json")
    assert again.status_code == 400 and "already" in again.json()["error"]["message"]
    register(api, receiver.url + "/2")
    third = api.post("/api/v1/webhook-endpoints/", {"url": receiver.url + "/3"}, format="json")
    assert third.status_code == 400 and third.json()["error"]["code"] == "too_many_endpoints"


def test_bad_ids_are_404(api):
    for path in (
        "/api/v1/webhook-endpoints/nope/",
        "/api/v1/webhook-endpoints/00000000-0000-0000-0000-000000000000/",
        "/api/v1/webhook-deliveries/----------------------------------/",
    ):
        response = api.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found", path
    assert api.get("/api/v1/webhook-deliveries/?endpoint=nope").status_code == 400


def test_the_developers_page_manages_endpoints(client, alice, bob, receiver):
    client.force_login(alice)
    created = client.post("/developers/webhooks/", {"url": receiver.url, "description": "home"})
    assert created.status_code == 200 and created["Cache-Control"]
    secret = re.search(r'data-testid="secret">(whsec_[^<]+)<', created.content.decode()).group(1)
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret

    page = client.get("/developers/").content.decode()
    assert receiver.url in page and secret not in page
    detail = client.get(f"/developers/webhooks/{endpoint.pk}/")
    assert detail.status_code == 200 and secret not in detail.content.decode()

    assert client.post(f"/developers/webhooks/{endpoint.pk}/disable/").status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.active
    assert client.post(f"/developers/webhooks/{endpoint.pk}/enable/").status_code == 302
    rotated = client.post(f"/developers/webhooks/{endpoint.pk}/rotate/").content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret in rotated and endpoint.previous_secret == secret

    client.force_login(bob)
    assert client.get(f"/developers/webhooks/{endpoint.pk}/").status_code == 404
    assert client.post(f"/developers/webhooks/{endpoint.pk}/delete/").status_code == 404
    client.force_login(alice)
    assert client.post(f"/developers/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_the_page_shows_the_delivery_log_and_replays(client, alice, receiver):
    api = client_for(alice)
    register(api, receiver.url)
    receiver.statuses = [500, 200]
    end_generation(start_generation(api)["id"])
    delivery = WebhookDelivery.objects.get()
    webhooks.deliver(str(delivery.pk))

    client.force_login(alice)
    endpoint_page = client.get(f"/developers/webhooks/{delivery.endpoint_id}/").content.decode()
    assert "generation.cancelled" in endpoint_page and "HTTP 500" in endpoint_page
    detail = client.get(f"/developers/deliveries/{delivery.pk}/").content.decode()
    assert delivery.message_id in detail and "HTTP 500" in detail

    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    assert client.post(f"/developers/deliveries/{delivery.pk}/replay/").status_code == 302
    assert webhooks.deliver(str(delivery.pk)) == "succeeded"
    assert "succeeded" in client.get(f"/developers/deliveries/{delivery.pk}/").content.decode()
