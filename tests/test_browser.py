"""The built book in headless Chromium: tables shown, every figure loaded, no console errors."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest
from conftest import running_in_ci

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install chromium); the browser test needs it"
        if running_in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def served_book(smoke_book):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(smoke_book["html"])))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def visit(browser, url):
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="networkidle")
    return page, problems


@pytest.mark.book
def test_neutralization_page_shows_its_tables_and_figures(browser, served_book):
    page, problems = visit(browser, f"{served_book}/notebooks/04_weight_importance_neutralization.html")
    captions = page.eval_on_selector_all("table caption", "els => els.map(e => e.textContent)")
    for table in ("WIN Table 1", "WIN Section 4.4", "WIN Table 2", "WIN Table 3", "WIN Table 4"):
        assert any(table in c and "paper vs reproduced" in c for c in captions), table
    headers = page.eval_on_selector_all("table th", "els => els.map(e => e.textContent.trim())")
    assert {"paper", "ours", "Δ"} <= set(headers)
    images = page.evaluate("Array.from(document.images).map(i => [i.currentSrc, i.complete, i.naturalWidth])")
    figures = [img for img in images if "_images/" in img[0]]
    assert len(figures) >= 5
    assert all(complete and width > 0 for _, complete, width in images), images
    assert page.evaluate("document.querySelectorAll('mjx-container').length") > 0  # MathJax, served locally, rendered
    assert not problems, problems
    page.close()


@pytest.mark.book
def test_data_page_shows_faceworld_grids_and_tables(browser, served_book):
    page, problems = visit(browser, f"{served_book}/notebooks/00_data.html")
    figures = [img for img in page.evaluate("Array.from(document.images).map(i => [i.currentSrc, i.naturalWidth])")
               if "_images/" in img[0]]
    assert len(figures) >= 4 and all(width > 0 for _, width in figures)
    assert page.evaluate("document.querySelectorAll('table').length") >= 6
    assert not problems, problems
    page.close()


@pytest.mark.book
@pytest.mark.parametrize("page_name", ["book/intro.html", "book/status.html", "book/execution.html", "book/bibliography.html"])
def test_other_pages_load_cleanly(browser, served_book, page_name):
    page, problems = visit(browser, f"{served_book}/{page_name}")
    assert page.title()
    assert all(width > 0 for width in page.evaluate("Array.from(document.images).map(i => i.naturalWidth)"))
    assert not problems, problems
    page.close()
