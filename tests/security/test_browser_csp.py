"""A Content-Security-Policy every page passes in a real browser: the UI, the admin and the API docs, no CDN."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.images import room_photo
from tests.support.tools import require_tool

pytestmark = [pytest.mark.browser, pytest.mark.stack]
PASSWORD = "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
# Every violation the page reports, kept where the test can read it.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = e.sourceFile + ":" + e.lineNumber;
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + where);
});
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = require_tool("chromium", "chromium", "the browser tests")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A page that records CSP violations, console errors and every request leaving for another host."""

    def __init__(self, browser: Browser, origin: str) -> None:
        self.page: Page = browser.new_page()
        self.page.add_init_script(RECORD_VIOLATIONS)
        self.origin = origin
        self.violations: list[str] = []
        self.elsewhere: list[str] = []
        self.page.on("console", self.console)
        self.page.on("request", self.request)

    def console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.violations.append(message.text)

    def request(self, request: Any) -> None:
        url = request.url
        if not url.startswith((self.origin, "data:", "blob:", self.origin.replace("http", "ws", 1))):
            self.elsewhere.append(url)

    def visit(self, path: str) -> None:
        self.page.goto(self.origin + path)
        self.page.wait_for_load_state("networkidle")
        self.violations += self.page.evaluate("window.__violations")

    def clean(self) -> bool:
        return not self.violations and not self.elsewhere


def test_every_response_carries_the_policy(web):
    policy = requests.get(f"{web.url}/accounts/login/", timeout=10).headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy


def test_the_ui_the_admin_and_the_api_docs_pass_the_policy(web, worker, browser, make_user):
    make_user("alice")
    User.objects.filter(username="alice").update(is_staff=True, is_superuser=True)
    tab = Watched(browser, web.url)
    tab.visit("/accounts/login/")
    tab.page.fill("input[name=username]", "alice")
    tab.page.fill("input[name=password]", PASSWORD)
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(f"{web.url}/")
    tab.visit("/rooms/new/")
    tab.page.set_input_files(
        "input[type=file][name=photo]",
        files=[{"name": "room.jpg", "mimeType": "image/jpeg", "buffer": room_photo(900, 600)}],
    )
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(re.compile(r"/rooms/[0-9a-f-]+/$"))
    tab.violations += tab.page.evaluate("window.__violations")
    tab.page.check("input[name=style][value=modern]")
    tab.page.click("button[type=submit]")
    tab.page.wait_for_url(re.compile(r"/generations/[0-9a-f-]+/$"))
    tab.page.wait_for_selector("[data-testid=result] img", timeout=60_000)
    tab.violations += tab.page.evaluate("window.__violations")
    for path in ("/", "/generations/", "/developers/", "/admin/", "/admin/ops/", "/api/docs/"):
        tab.visit(path)
    tab.page.wait_for_selector(".swagger-ui .info", timeout=30_000)  # the docs really rendered
    assert tab.clean(), (tab.violations, tab.elsewhere)
