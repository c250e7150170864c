"""Callbacks cannot reach our own network: internal addresses are refused at registration and at send time."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from developers import netguard, webhooks
from developers.models import WebhookDelivery, WebhookEndpoint
from tests.support.jobs import end_generation, start_generation
from tests.support.webhooks import Receiver, register, start_receiver

pytestmark = pytest.mark.django_db


def internal_urls(port: int) -> list[str]:
    """The usual ways to spell "this machine" or "the private network" in a URL."""
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://LOCALHOST:{port}/",
        f"http://localhost.:{port}/",
        f"http://2130706433:{port}/",  # decimal
        f"http://017700000001:{port}/",  # octal
        f"http://0x7f000001:{port}/",  # hex
        f"http://0x7f.0.0.1:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",  # short form
        f"http://127.0.0.2:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://0:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/",
        f"http://[::127.0.0.1]:{port}/",
        f"http://[2002:7f00:1::]:{port}/",  # 6to4 around 127.0.0.1
        f"http://[64:ff9b::7f00:1]:{port}/",  # NAT64 around 127.0.0.1
        f"http://[fe80::1]:{port}/",
        f"http://[fc00::1]:{port}/",
        f"http://[ff02::1]:{port}/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # carrier-grade NAT
        "http://224.0.0.1/",  # multicast
        "http://255.255.255.255/",
        "http://240.0.0.1/",  # reserved
        f"http://user:pass@example.com@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}\\@example.com/",
        f"http://[::1%25lo]:{port}/",
        f"gopher://127.0.0.1:{port}/",
        "file:///etc/passwd",
        f"ftp://127.0.0.1:{port}/",
        f"//127.0.0.1:{port}/",
        "not a url",
        "http://",
        f"http://127.0.0.1:{port}/#frag",
        "http://no-such-host.invalid/",
    ]


def test_registration_refuses_internal_addresses_in_every_spelling_and_contacts_none(api, trap):
    for url in internal_urls(trap.port):
        response = api.post("/api/v1/webhook-endpoints/", {"url": url}, format="json")
        assert response.status_code == 400, (url, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid" and "url" in error["fields"], url
    assert WebhookEndpoint.objects.count() == 0
    assert trap.connections == 0


def test_the_web_form_refuses_them_too(client, alice, trap):
    client.force_login(alice)
    for url in internal_urls(trap.port)[:25]:
        response = client.post("/developers/webhooks/", {"url": url})
        assert response.status_code == 400, url
    assert WebhookEndpoint.objects.count() == 0 and trap.connections == 0


def test_a_name_that_resolves_to_loopback_is_refused(api, trap, monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.215.14", "127.0.0.1"])
    response = api.post("/api/v1/webhook-endpoints/", {"url": f"http://hooks.example.com:{trap.port}/"}, format="json")
    assert response.status_code == 400
    assert "loopback" in response.json()["error"]["message"]
    assert "127.0.0.1" not in response.json()["error"]["message"], "internal DNS answers are not echoed back"


def test_dns_that_changes_after_registration_is_caught_at_send_time(api, trap, monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.215.14"])
    register(api, f"http://rebind.example.com:{trap.port}/hooks")
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    end_generation(start_generation(api)["id"])
    (delivery,) = WebhookDelivery.objects.all()

    assert webhooks.deliver(str(delivery.pk)) == "pending"
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and delivery.last_error.startswith("refused:")
    assert "loopback" in delivery.last_error
    assert trap.connections == 0


def test_the_connection_goes_to_the_address_that_was_checked(api, receiver, trap, monkeypatch, settings):
    """A resolver that answers differently the second time must not matter: the name is resolved once."""
    answers = iter([["127.0.0.1"], ["127.0.0.1"]])
    calls = []

    def resolve(host, port):
        calls.append(host)
        return next(answers, ["127.0.0.2"])  # a second look-up during a send would go elsewhere

    monkeypatch.setattr(netguard, "resolve", resolve)
    settings.WEBHOOK_ALLOWLIST = [f"hooks.example.test:{receiver.port}"]
    register(api, f"http://hooks.example.test:{receiver.port}/hooks")
    end_generation(start_generation(api)["id"])
    (delivery,) = WebhookDelivery.objects.all()

    assert webhooks.deliver(str(delivery.pk)) == "succeeded"
    assert calls == ["hooks.example.test", "hooks.example.test"], "once to register, once to send"
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example.test:{receiver.port}"
    delivery.refresh_from_db()
    assert delivery.log[0]["address"] == "127.0.0.1"


def test_the_allowlist_is_per_host_and_port(api, receiver, trap, settings):
    settings.WEBHOOK_ALLOWLIST = [receiver.hostport]
    assert api.post("/api/v1/webhook-endpoints/", {"url": receiver.url}, format="json").status_code == 201
    other_port = api.post("/api/v1/webhook-endpoints/", {"url": trap.url}, format="json")
    assert other_port.status_code == 400
    assert trap.connections == 0


def test_a_receiver_that_leaves_the_allowlist_is_refused_at_send_time(api, receiver, settings):
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    settings.WEBHOOK_ALLOWLIST = []
    (delivery,) = WebhookDelivery.objects.all()
    assert webhooks.deliver(str(delivery.pk)) == "pending"
    assert receiver.connections == 0


def test_production_requires_https(api, settings, monkeypatch):
    settings.DEBUG = False
    settings.TESTING = False
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.215.14"])
    http = api.post("/api/v1/webhook-endpoints/", {"url": "http://hooks.example.com/"}, format="json")
    assert http.status_code == 400 and "https" in http.json()["error"]["message"]
    https = api.post("/api/v1/webhook-endpoints/", {"url": "https://hooks.example.com/in"}, format="json")
    assert https.status_code == 201, https.content
    assert https.json()["url"] == "https://hooks.example.com/in"


def test_a_slow_receiver_is_cut_off(api, receiver, settings):
    settings.WEBHOOK_TIMEOUT_S = 1.0
    receiver.delay_s = 3
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    (delivery,) = WebhookDelivery.objects.all()
    started = time.monotonic()
    assert webhooks.deliver(str(delivery.pk)) == "pending"
    assert time.monotonic() - started < 2
    delivery.refresh_from_db()
    assert delivery.last_error.startswith("timeout")


def test_a_receiver_that_trickles_its_answer_is_cut_off_by_one_deadline(api, receiver, settings):
    settings.WEBHOOK_TIMEOUT_S = 1.0
    receiver.drip_s = 0.2  # each byte arrives well within a per-read timeout; the whole never does
    register(api, receiver.url)
    end_generation(start_generation(api)["id"])
    (delivery,) = WebhookDelivery.objects.all()
    started = time.monotonic()
    assert webhooks.deliver(str(delivery.pk)) == "pending"
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.251", False),
        ("198.18.0.1", False),
        ("::1", False),
        ("::", False),
        ("::ffff:8.8.8.8", False),  # IPv4-mapped: refused in every form
        ("::ffff:10.0.0.1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("fec0::1", False),
        ("ff02::1", False),
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254
        ("2001:db8::1", False),  # documentation
    ],
)
def test_which_addresses_webhooks_may_reach(address, allowed):
    assert (netguard.blocked_reason(ipaddress.ip_address(address)) is None) is allowed


def self_signed(name: str, directory) -> str:
    """A certificate (and key) for `name`, in one PEM file."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.pem"
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(path)


@pytest.fixture
def tls_receiver(tmp_path):
    """An https receiver on 127.0.0.1 with a certificate for hooks.example.test; it records the SNI it is sent."""
    pem = self_signed("hooks.example.test", tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)

    def make(server):
        server.socket = context.wrap_socket(server.socket, server_side=True)
        return Receiver(server)

    receiver = start_receiver(make)
    receiver.sni = names
    receiver.pem = pem
    yield receiver
    receiver.close()


@pytest.mark.parametrize("trusted_name", ["hooks.example.test", "someone-else.example.test"])
def test_tls_goes_to_the_checked_address_with_the_name_for_sni_and_the_certificate(
    api, tls_receiver, monkeypatch, settings, tmp_path, trusted_name
):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["127.0.0.1"])
    settings.WEBHOOK_ALLOWLIST = [f"hooks.example.test:{tls_receiver.port}"]
    # Trust only the receiver's own certificate, or (second case) one made out to another name.
    trusted = tls_receiver.pem if trusted_name == "hooks.example.test" else self_signed(trusted_name, tmp_path)
    monkeypatch.setattr(netguard, "_tls_context", lambda: ssl.create_default_context(cafile=trusted))
    register(api, f"https://hooks.example.test:{tls_receiver.port}/hooks")
    end_generation(start_generation(api)["id"])
    (delivery,) = WebhookDelivery.objects.all()

    outcome = webhooks.deliver(str(delivery.pk))
    assert tls_receiver.sni[0] == "hooks.example.test"
    if trusted_name == "hooks.example.test":
        assert outcome == "succeeded"
        assert tls_receiver.requests[0].headers["host"] == f"hooks.example.test:{tls_receiver.port}"
    else:
        assert outcome == "pending" and not tls_receiver.requests, "an unverified certificate gets no payload"
        delivery.refresh_from_db()
        assert "certificate" in delivery.last_error.lower() or "connection failed" in delivery.last_error
