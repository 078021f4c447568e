"""Data loading, round trips, charts, grids, the CLI: small pieces with clear failure modes."""

from __future__ import annotations

import struct
import zlib
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proto import Fill, Liquidity, Side
from services.backtest.chart import H, W, render_png
from services.backtest.data import DataError, load_file, save, synthetic
from services.backtest.jobs import expand_grid
from services.backtest.report import round_trips
from tradebus.cli import main as tradebus


def test_csv_and_parquet_round_trip(tmp_path: Path) -> None:
    bars = synthetic(50, seed=4)
    for name in ("b.csv", "b.parquet"):
        save(bars, tmp_path / name)
        got = load_file(tmp_path / name)
        assert got.symbol == "BTC-USD" and got.interval == "1m"
        assert np.array_equal(got.ts, bars.ts) and np.array_equal(got.close, bars.close)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("ts,open,high,low,close\n1,1,2,0.5,1\n1,1,2,0.5,1\n", "strictly increasing"),
        ("ts,open,high,low\n1,1,2,0.5\n", "missing column(s) close"),
        ("ts,open,high,low,close\n60,1,2,0.5,1\n120,1,0.9,0.5,1\n", "row 1: high/low"),
        ("when,open,high,low,close\n60,1,2,0.5,1\n", "no time column"),
        ("ts,open,high,low,close\n60,1,2,0.5,1\n120,-1,2,-2,1\n", "column 'open' row 1"),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, body: str, needle: str) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        load_file(f)


def fill(i: int, side: Side, qty: str, price: str, fee: str = "0") -> Fill:
    return Fill(
        fill_id=f"f{i}", strategy="s", venue="sim", symbol="X-USD", side=side, qty=Decimal(qty),
        price=Decimal(price), fee=Decimal(fee), liquidity=Liquidity.TAKER, ts_event=i,
    )  # fmt: skip


def test_a_flip_closes_one_trade_and_opens_the_next() -> None:
    trades = round_trips(
        [
            fill(1, Side.BUY, "1", "100", "1"),
            fill(2, Side.SELL, "2", "110", "2"),
            fill(3, Side.BUY, "1", "105"),
        ]
    )
    assert [(t.side, t.qty, t.entry_price, t.exit_price) for t in trades] == [
        (1, Decimal(1), Decimal(100), Decimal(110)),
        (-1, Decimal(1), Decimal(110), Decimal(105)),
    ]
    assert trades[0].pnl == Decimal(10) - Decimal(2)  # fee 1 + half of the flip's 2
    assert trades[1].pnl == Decimal(5) - Decimal(1)


@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5), st.integers(90, 110)), min_size=1, max_size=30))
def test_round_trips_account_for_all_closed_pnl(moves: list[tuple[bool, int, int]]) -> None:
    fills = [fill(i, Side.BUY if b else Side.SELL, str(q), str(p)) for i, (b, q, p) in enumerate(moves)]
    pos, cash = Decimal(0), Decimal(0)
    for f in fills:
        pos += f.signed_qty
        cash -= f.signed_qty * f.price
    trades = round_trips(fills)
    if pos == 0:  # flat at the end: trades hold every bit of the PnL
        assert sum((t.pnl for t in trades), Decimal(0)) == cash


def test_png_is_a_valid_image_of_the_right_size() -> None:
    png = render_png(100_000 + np.cumsum(np.random.default_rng(1).normal(0, 10, 5000)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert (w, h) == (W, H)
    idat = png.index(b"IDAT")
    size = struct.unpack(">I", png[idat - 4 : idat])[0]
    raw = zlib.decompress(png[idat + 4 : idat + 4 + size])
    assert len(raw) == H * (1 + 3 * W)
    assert len(set(raw)) > 3  # something is drawn


def test_grid_is_the_full_product() -> None:
    combos = expand_grid({"a": [1, 2, 3], "b": ["x", "y"]})
    assert len(combos) == 6 and {"a": 3, "b": "y"} in combos


def test_cli_runs_and_writes_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save(synthetic(600, seed=9), tmp_path / "bars.csv")
    out = tmp_path / "r"
    argv = [
        "backtest",
        "--strategy",
        "bb_rsi_scalper",
        "--params",
        "size=0.1",
        "--data",
        str(tmp_path / "bars.csv"),
    ]
    assert tradebus([*argv, "--out", str(out), "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == {"summary.txt", "trades.csv", "equity.png", "report.html"}
    assert "sharpe" in capsys.readouterr().out
    assert tradebus([*argv, "--params", "bogus=1", "--out", str(out), "--no-progress"]) == 2
    assert "bogus" in capsys.readouterr().err
