"""End to end in headless Chromium against daphne, a real Celery worker and the sandbox provider.

A user logs in, uploads a photo, picks a style and watches the redesign arrive over the WebSocket, with no
reload; a second user signed in at the same time hears nothing of it. Screenshots land in the test's
tmp_path and in var/screenshots/ for humans.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from generation.provider.openai_images import SANDBOX_KEY
from tests.support.images import room_photo
from tests.support.tools import require_tool

pytestmark = [pytest.mark.browser, pytest.mark.stack]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LAPTOP = {"width": 1366, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "correct horse battery"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

# Every value the progress bar shows, with the status shown beside it at that moment.
RECORD_PROGRESS = """
window.__progress = [];
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.querySelector("[data-testid=progress]");
  const status = document.querySelector("[data-testid=status]");
  if (!bar) return;
  const record = () => window.__progress.push([Number(bar.getAttribute("aria-valuenow")), status.textContent.trim()]);
  record();
  new MutationObserver(record).observe(bar, {attributes: true, attributeFilter: ["aria-valuenow"]});
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_tool("chromium", "chromium", "the browser tests")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API keeps an event loop on this thread, which Django takes for an async context;
        # the ORM calls of the tests and fixtures here are ordinary synchronous code.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Frames:
    """The text of every WebSocket frame a page receives."""

    def __init__(self, page: Page) -> None:
        self.received: list[str] = []
        self.sockets = 0
        page.on("websocket", self._opened)

    def _opened(self, socket: Any) -> None:
        self.sockets += 1
        socket.on("framereceived", lambda payload: self.received.append(str(payload)))

    def updates_for(self, generation_id: str) -> list[dict[str, Any]]:
        events = [json.loads(frame) for frame in self.received]
        updates = [e["payload"] for e in events if e["type"] == "generation.update"]
        return [payload for payload in updates if payload["id"] == generation_id]

    def mention(self, text: str) -> bool:
        return any(text in frame for frame in self.received)


def log_in(page: Page, web: Any, username: str) -> None:
    page.goto(f"{web.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web.url}/")


def upload_and_generate(page: Page, web: Any, *, name: str, style: str) -> str:
    """Upload a photo on /rooms/new/, pick a style, press generate; return the generation's id."""
    page.goto(f"{web.url}/rooms/new/")
    page.set_input_files(
        "input[type=file][name=photo]",
        files=[{"name": "room.jpg", "mimeType": "image/jpeg", "buffer": room_photo(900, 600)}],
    )
    expect(page.locator("#photo-preview")).to_be_visible()
    page.fill("input[name=name]", name)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/rooms/[0-9a-f-]+/$"))
    page.check(f"input[name=style][value={style}]")
    page.click("button[type=submit]")  # the generic selector a script would use finds the form's own button
    page.wait_for_url(re.compile(r"/generations/[0-9a-f-]+/$"))
    return page.url.rstrip("/").rsplit("/", 1)[-1]


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / path.name)


def wait_for_result(page: Page, generation_id: str, tmp_path: Path) -> None:
    image = page.locator("[data-testid=result] img")
    try:
        expect(image).to_be_visible(timeout=45_000)
    except AssertionError:
        page.screenshot(path=str(tmp_path / f"stuck-{generation_id}.png"), full_page=True)
        raise
    expect(image).to_have_attribute("src", re.compile(f"/media/generations/{generation_id}/0/"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    expect(page.locator("[data-testid=status]")).to_have_text("Succeeded")


def test_a_user_watches_their_redesign_arrive_live_and_nobody_else_sees_it(
    web: Any, worker: Any, provider: Any, make_user: Any, browser: Browser, tmp_path: Path
) -> None:
    # Long enough a call for the progress ticker to move the bar several times while it is in flight.
    provider.configure(latency_s_min=3.5, latency_s_max=4.0)
    make_user("alice")
    make_user("bob")
    alice_context = browser.new_context(viewport=LAPTOP)
    bob_context = browser.new_context(viewport=PHONE)
    alice, bob = alice_context.new_page(), bob_context.new_page()
    alice.add_init_script(RECORD_PROGRESS)
    alice_frames, bob_frames = Frames(alice), Frames(bob)

    # Bob is signed in and working at the same time, his own page listening on its own socket.
    log_in(bob, web, "bob")
    bobs_id = upload_and_generate(bob, web, name="Bob's study", style="industrial")

    log_in(alice, web, "alice")
    screenshot(alice, tmp_path, "dashboard-empty-laptop")
    alices_id = upload_and_generate(alice, web, name="Alice's lounge", style="scandinavian")
    alice.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    expect(alice.locator("[data-testid=progress]")).to_have_attribute("aria-valuenow", re.compile(r"^\d+$"))
    expect(alice.locator("#live-pill")).to_have_attribute("data-state", "live")
    alice.wait_for_function("Number(document.querySelector('[data-testid=progress]').ariaValueNow) >= 10")
    screenshot(alice, tmp_path, "generation-progress-laptop")

    wait_for_result(alice, alices_id, tmp_path)
    assert alice.evaluate("window.__sameDocument") is True, "the page reloaded"
    expect(alice.locator("[data-testid=progress]")).to_have_attribute("aria-valuenow", "100")
    screenshot(alice, tmp_path, "generation-laptop")

    # The bar moved through several values while the call was in flight, and read 100 only on success.
    shown = alice.evaluate("window.__progress")
    between = sorted({value for value, _ in shown if 0 < value < 100})
    assert len(between) >= 2, shown
    assert all(status == "Succeeded" for value, status in shown if value == 100), shown
    # Those values came over the WebSocket.
    live = alice_frames.updates_for(alices_id)
    assert len({u["progress"] for u in live if 0 < u["progress"] < 100}) >= 2, live
    assert live[-1]["status"] == "succeeded" and live[-1]["images"], live[-1]
    assert all(u["progress"] < 100 for u in live if u["status"] != "succeeded"), live

    # The comparison: a slider by default, side by side on demand.
    expect(alice.locator("#compare")).to_have_attribute("data-mode", "slider")
    expect(alice.locator(".compare-before img")).to_be_visible()
    alice.click("[data-view=side]")
    expect(alice.locator("#compare")).to_have_attribute("data-mode", "side")
    expect(alice.locator("[data-role=download]")).to_have_attribute("href", f"/media/generations/{alices_id}/0/")
    expect(alice.locator("[data-role=again]")).to_be_visible()

    alice.set_viewport_size(PHONE)
    alice.click("[data-view=slider]")
    screenshot(alice, tmp_path, "generation-phone")
    alice.goto(f"{web.url}/")
    screenshot(alice, tmp_path, "dashboard-phone")
    alice.set_viewport_size(LAPTOP)
    alice.reload()
    expect(alice.locator(".gen-card")).to_have_count(1)
    screenshot(alice, tmp_path, "dashboard-laptop")

    # Bob: his own job finished on his page; nothing of Alice's ever reached him.
    wait_for_result(bob, bobs_id, tmp_path)
    assert bob_frames.sockets >= 1 and bob_frames.mention(bobs_id)  # in an update, or a snapshot if it was quick
    assert not bob_frames.mention(alices_id)
    assert not alice_frames.mention(bobs_id)
    assert bob.goto(f"{web.url}/generations/{alices_id}/").status == 404
    bob.goto(f"{web.url}/")
    expect(bob.locator("body")).not_to_contain_text("Alice's lounge")
    expect(bob.locator(".gen-card")).to_have_count(1)

    # The provider's key never reaches a page.
    assert not alice_frames.mention(SANDBOX_KEY) and SANDBOX_KEY not in alice.content()
    alice_context.close()
    bob_context.close()


def test_the_page_never_gets_stuck_when_its_socket_drops_or_websockets_are_missing(
    web: Any, worker: Any, provider: Any, make_user: Any, browser: Browser, tmp_path: Path
) -> None:
    provider.configure(latency_s_min=2.0, latency_s_max=2.5)
    make_user("carol")
    make_user("dave")

    # Carol's connection dies mid-job (events sent meanwhile are lost): the page reconnects and re-syncs.
    carol_context = browser.new_context(viewport=LAPTOP)
    carol = carol_context.new_page()
    routes: list[Any] = []

    def through(route: Any) -> None:
        routes.append(route)
        route.connect_to_server()

    carol.route_web_socket(re.compile(r"/ws/generations/"), through)
    log_in(carol, web, "carol")
    carols_id = upload_and_generate(carol, web, name="Hall", style="coastal")
    expect(carol.locator("#live-pill")).to_have_attribute("data-state", "live")
    routes[0].close()

    # Dave's browser has no WebSocket at all: the page polls the API instead.
    dave_context = browser.new_context(viewport=PHONE)
    dave_context.add_init_script("delete window.WebSocket;")
    dave = dave_context.new_page()
    daves_frames = Frames(dave)
    log_in(dave, web, "dave")
    daves_id = upload_and_generate(dave, web, name="Kitchen", style="farmhouse")
    expect(dave.locator("#live-pill")).to_have_attribute("data-state", "polling")

    wait_for_result(carol, carols_id, tmp_path)
    assert len(routes) >= 2, "the page did not reconnect"
    wait_for_result(dave, daves_id, tmp_path)
    assert daves_frames.sockets == 0
    carol_context.close()
    dave_context.close()
