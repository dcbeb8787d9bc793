"""The admin in a real browser: Debian's Chromium driven by Playwright over real HTTP.

Shared by every browser test (import the `browser` fixture): the two widths every page is
walked at, screenshots under tests/artifacts/ (git-ignored) for a person to look at, and the
check that fails a page wider than the screen, naming the elements that stick out.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]

# Runs through CDP (not subject to the page's CSP, unlike wait_for_function): the document's
# width beyond the viewport, and up to 5 elements whose right edge passes the viewport's.
_OVERFLOW = """() => {
  const w = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > w + 1 && out.length < 5) {
      out.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
               (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : '') +
               ' right=' + Math.round(r.right));
    }
  }
  return {scroll: document.documentElement.scrollWidth, width: w, culprits: out};
}"""


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        reason = f"{CHROMIUM} is missing (`make test` installs the chromium package with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


def new_page(browser, width: str = "desktop", locale: str = "vi-VN"):
    """A fresh context at one of WIDTHS; returns (context, page, refused) where `refused`
    collects what the page's Content-Security-Policy blocked (nothing of ours may be)."""
    w, h = WIDTHS[width]
    context = browser.new_context(locale=locale, viewport={"width": w, "height": h})
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.set_default_timeout(10_000)
    return context, page, refused


def sign_in(page, url: str, password: str) -> None:
    page.goto(url + "/admin/login")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda u: "/admin/login" not in u)


def overflow(page) -> dict:
    page.wait_for_load_state("domcontentloaded")   # a page still arriving has no document to measure
    return page.evaluate(_OVERFLOW)


def assert_fits(page, what: str = "") -> None:
    """The page is no wider than the screen: no horizontal scrolling on a phone."""
    o = overflow(page)
    assert o["scroll"] <= o["width"], f"{what or page.url} is {o['scroll']} px wide at {o['width']} px: {o['culprits']}"


def shot(page, name: str, width: str = "") -> Path:
    """The whole page as JPEG (quality 85, text still sharp enough to read): Chromium encodes a
    tall page's PNG in about twice the time, and the suite takes some thirty full-page shots."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / (f"admin-{name}-{width}.jpg" if width else f"admin-{name}.jpg")
    page.screenshot(path=str(path), full_page=True, type="jpeg", quality=85)
    return path
