"""The instructor's dashboard in a real browser: Debian's Chromium driven by playwright, against the
running aiohttp server over a real database. Refused links, headers and escaping are checked too."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.config import Settings
from adapters.dashboard import start_in_background
from bot.dashboard import serve_links
from tests.fakes.chat import Chat

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Chat, str]]:
    """Two cohorts taught by Prof (one closed), one taught by someone else; the dashboard on a free port."""
    chat = Chat.open(f"sqlite:///{tmp_path / 'dash.sqlite3'}")
    chat.ok("prof", "/dare cohort create Fall25 --goal 1")
    chat.ok("dee", "/dare cohort join Fall25")
    chat.ok("prof", "/dare start Fall25")
    chat.ok("dee", "/dare accept")
    chat.ok("dee", '/dare contact "Someone"')
    chat.ok("dee", '/dare outreach "Someone"')
    chat.ok("prof", "/dare cohort close Fall25")
    chat.ok("prof", '/dare cohort create "CS101 <b>evening</b>" --goal 2')
    for s in ("ann", "bob", "cy"):
        chat.ok(s, '/dare cohort join "CS101 <b>evening</b>"')
    chat.ok("prof", '/dare start "CS101 <b>evening</b>"')
    chat.ok("ann", "/dare accept")
    chat.ok("ann", '/dare contact "Ada Lovelace" --decides')
    chat.ok("ann", '/dare outreach "Ada Lovelace"')
    chat.ok("ann", '/dare reply "Ada Lovelace" --meeting tomorrow')
    chat.wait(days=1)
    chat.ok("ann", '/dare log "Ada Lovelace"')
    chat.ok("eve", "/dare cohort create Theirs")
    chat.ok("zed", "/dare cohort join Theirs")
    chat.wait(days=8)
    settings = Settings(DAREBOT_SECRET_KEY="test-secret-0123456789abcdef", DAREBOT_PUBLIC_URL=None)  # type: ignore[call-arg]
    port = _free_port()
    start_in_background(chat.engine, settings, port, host="127.0.0.1")
    try:
        yield chat, f"http://localhost:{port}"
    finally:
        serve_links(None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _link(chat: Chat, who: str = "prof") -> str:
    out = chat.ok(who, "/dare dashboard")
    return next(w for w in out.split() if "/dashboard/" in w)


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 (our own test server)
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def test_headers_escaping_and_refusals_over_http(served: tuple[Chat, str]) -> None:
    chat, base = served
    url = _link(chat)
    assert url.startswith(base + "/dashboard/")
    status, headers, body = _get(url)
    assert status == 200
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in headers["Content-Security-Policy"] and "script" not in body.lower().replace(
        "<noscript", ""
    )
    assert "CS101 &lt;b&gt;evening&lt;/b&gt;" in body and "<b>evening</b>" not in body
    assert "Theirs" not in body and "Zed" not in body  # only this instructor's cohorts
    assert "Fall25" in body and "closed" in body
    token = url.rsplit("/", 1)[1]
    altered = token[:-3] + ("abc" if not token.endswith("abc") else "xyz")
    status, headers, body = _get(f"{base}/dashboard/{altered}")
    assert status == 403 and "damaged or was changed" in body and headers["Cache-Control"] == "no-store"
    assert _get(f"{base}/dashboard/not-a-token")[0] == 403
    # Another instructor's link doesn't open Prof's cohorts' CSV.
    theirs = _link(chat, "eve").rsplit("/", 1)[1]
    fall = _get(url)[2].split("/export/")[1].split(".csv")[0]
    status, _, body = _get(f"{base}/dashboard/{theirs}/export/{fall}.csv")
    assert status == 403 and "one of yours" in body
    # A participant gets no link at all.
    assert "for instructors" in chat.err("ann", "/dare dashboard")


def test_the_dashboard_in_chromium(served: tuple[Chat, str], tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    chat, _base = served
    url = _link(chat)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            response = page.goto(url)
            assert response is not None and response.status == 200
            assert page.title().startswith("darebot")
            cohort = page.locator("section.cohort").filter(has_text="CS101 <b>evening</b>")
            assert cohort.count() == 1
            board = cohort.locator("table.board")
            assert board.locator("th").first.inner_text() == "#"
            names = board.locator("tbody tr td:nth-child(2)").all_inner_texts()
            assert names[0] == "Ann" and set(names) == {"Ann", "Bob", "Cy"}
            assert cohort.locator("figure.funnel svg").count() == 1
            assert cohort.locator("figure.weekly svg").count() == 1
            assert "Tried an interview 1 of 3" in (cohort.locator("figure.funnel").get_attribute("aria-label") or "")
            assert "hasn't accepted the dare" in cohort.locator("ul.stalls").inner_text()
            comparison = page.locator("#comparison table")
            headers = comparison.locator("thead th").all_inner_texts()
            assert "CS101 <b>evening</b>" in headers and "Fall25 (closed)" in headers
            assert "vs 5% baseline" in comparison.inner_text()
            with page.expect_download() as info:
                cohort.locator("a.csv").click()
            path = info.value.path()
            csv_text = Path(path).read_text(encoding="utf-8")
            assert csv_text.startswith("name,user_id") and "Ann,ann" in csv_text
            assert info.value.suggested_filename.endswith(".csv")
            token = url.rsplit("/", 1)[1]
            refused = page.goto(url.replace(token, token[:-2] + ("AA" if not token.endswith("AA") else "BB")))
            assert refused is not None and refused.status == 403
            assert "damaged or was changed" in page.locator("p.reason").inner_text()
            chat.wait(hours=25)  # the server reads the same clock
            expired = page.goto(url)
            assert expired is not None and expired.status == 403
            assert "expired" in page.locator("p.reason").inner_text()
        finally:
            browser.close()


def test_expired_and_closed_workspace_links_are_refused(served: tuple[Chat, str]) -> None:
    from sqlmodel import select

    from storage.models import Workspace

    chat, _base = served
    url = _link(chat)
    assert _get(url)[0] == 200
    with chat.db.session() as s:
        ws = s.exec(select(Workspace)).one()
        ws.closed_at = chat.clock.now()
    status, _, body = _get(url)
    assert status == 403 and "removed from this workspace" in body
    with chat.db.session() as s:
        s.exec(select(Workspace)).one().closed_at = None
    chat.clock.advance(timedelta(hours=24, seconds=1))
    status, _, body = _get(url)
    assert status == 403 and "expired" in body


def test_darebot_dashboard_serves_alone_over_the_configured_database(tmp_path: Path) -> None:
    import subprocess
    import sys
    from datetime import UTC, datetime

    url = f"sqlite:///{tmp_path / 'alone.sqlite3'}"
    chat = Chat.open(url, start=datetime.now(UTC))  # the standalone server reads the real clock
    chat.ok("prof", "/dare cohort create Solo")
    env = {
        **os.environ,
        "DAREBOT_DATABASE_URL": url,
        "DAREBOT_SECRET_KEY": "alone-secret-0123456789abcdef",
        "DAREBOT_PUBLIC_URL": "https://dash.example",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapters.cli", "dashboard", "--port", "0", "--host", "127.0.0.1"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        port = None
        for line in proc.stderr:  # the server says where it listens once it does
            if "darebot dashboard on http://" in line:
                port = int(line.rsplit(":", 1)[1].split("/")[0])
                break
        assert port, "the dashboard never said it was listening"
        status, headers, body = _get(f"http://127.0.0.1:{port}/dashboard/AAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAA")
        assert status == 403 and "damaged or was changed" in body and headers["Referrer-Policy"] == "no-referrer"
        # A link signed with the same secret by any darebot process over this database opens here.
        from bot.dashboard import DashboardConfig

        chat.engine.dashboard = DashboardConfig(
            base_url="https://dash.example", secret_key="alone-secret-0123456789abcdef"
        )
        link = _link(chat).replace("https://dash.example", f"http://127.0.0.1:{port}")
        status, _, body = _get(link)
        assert status == 200 and "Solo" in body
    finally:
        proc.terminate()
        proc.wait(timeout=30)
