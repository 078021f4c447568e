"""The dashboard in a real headless Chromium against `tradebus up`: log in with the token, see a
strategy trade (its fills appear live), switch it off with the toggle, see it stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cdp import Browser, Page, chromium_binary
from tradebus.testing.servers import eventually
from tradebus.testing.stack import UpStack, up_stack

pytestmark = pytest.mark.e2e
CHROMIUM = chromium_binary()
STRATEGY = "flipper"
FLIP = f"{Path(__file__).with_name('flip_strategy.py')}:Flip"


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpStack]:
    strategies = (
        f"strategies:\n  - name: {STRATEGY}\n    kind: '{FLIP}'\n"
        "    symbols: [BTC-USD]\n    params: {interval: 5s, size: '0.01'}\n"
    )
    with up_stack(tmp_path_factory.mktemp("var"), strategies) as s:
        yield s


async def rows(page: Page, selector: str) -> int:
    return int(await page.evaluate(f"document.querySelectorAll({selector!r}).length"))


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (scripts/install-browser.sh installs it)"
)
async def test_log_in_see_a_strategy_trade_disable_it_see_it_stop(up: UpStack) -> None:
    assert CHROMIUM is not None
    async with Browser(CHROMIUM) as page:

        async def page_loaded() -> bool:
            try:
                await page.navigate(up.gateway + "/")
                return bool(await page.evaluate("!!document.querySelector('#login-dialog[open]')"))
            except RuntimeError:
                return False

        await eventually(
            page_loaded, timeout=90, interval=0.5, what="the gateway's page with the login dialog"
        )

        # a wrong token is refused on the page
        await page.click("#token")
        await page.type("not-the-token")
        await page.click("#login button[type=submit]")
        await eventually(
            lambda: page.evaluate("document.querySelector('#login-error').textContent"), what="a login error"
        )

        # the right one logs in
        await page.evaluate("document.querySelector('#token').value = ''")
        await page.click("#token")
        await page.type(up.token)
        await page.click("#login button[type=submit]")
        await eventually(
            lambda: page.evaluate("document.querySelector('#status').textContent === 'live'"),
            timeout=15,
            what="the live stream connected",
        )
        row = f"#strategies tr[data-name={STRATEGY}]"
        await eventually(lambda: rows(page, row), timeout=30, what="the strategy in the table")
        assert await page.evaluate(f"document.querySelector('{row} input.enabled').checked") is True

        # it trades: its fills arrive on the page without a reload
        fills = f"#fills tr[data-strategy={STRATEGY}]"
        await eventually(lambda: rows(page, fills), timeout=120, interval=0.5, what="a fill of the strategy")
        await eventually(
            lambda: page.evaluate(f"document.querySelector('{row} .trades').textContent !== '0'"),
            timeout=30,
            what="figures of the strategy",
        )

        # disable it with the toggle: the KV change comes back over the stream
        await page.click(f"{row} input.enabled")
        await eventually(
            lambda: page.evaluate(f"document.querySelector('{row}').dataset.enabled === 'false'"),
            timeout=10,
            what="the strategy shown disabled",
        )
        assert await page.evaluate(f"document.querySelector('{row} input.enabled').checked") is False

        # it stops: once execution has flattened it, no further fill shows up
        flat = (
            "(() => { const r = [...document.querySelectorAll('#positions tr')]"
            ".find(t => t.dataset.symbol === 'BTC-USD'); return !!r && r.cells[3].textContent === ''; })()"
        )
        await eventually(lambda: page.evaluate(flat), timeout=30, interval=0.5, what="the strategy flat")
        # the fill that made it flat can reach the page after the position does (another path):
        # its fills, from flat to flat, net to zero once they are all shown (fewer than the 50 the
        # page keeps: it traded for seconds)
        net = (
            f"[...document.querySelectorAll('{fills}')].reduce((n, r) => n + "
            "(r.cells[3].textContent === 'buy' ? 1 : -1)"
            " * Math.round(Number(r.cells[4].textContent) * 1e8), 0)"
        )
        await eventually(
            lambda: page.evaluate(f"{net} === 0"), timeout=30, interval=0.5, what="the flattening fill shown"
        )
        settled = await rows(page, fills)
        assert settled < 50, "more fills than the page keeps: the net above could not be checked"
        watch_until = time.monotonic() + 4.0  # ~8 candles of 5 s at 10x: it would have traded
        while time.monotonic() < watch_until:
            assert await rows(page, fills) == settled, (
                "a fill arrived after the strategy was disabled and flat"
            )
            await page.evaluate("new Promise(r => setTimeout(r, 250))")
        assert page.console == [], page.console
