"""The REST/WebSocket shell in process (Starlette TestClient), for shapes and error paths."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from tradebus.venues.sim.server import create_app
from tradebus.venues.sim.settings import SimSettings

KEY = {"X-API-Key": "k"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = SimSettings(history_hours=0.1, api_keys=[SecretStr("k")], start_ts=1_800_000_000 * 10**9)
    with TestClient(create_app(settings)) as c:
        yield c


def test_resting_orders_show_in_the_book(client: TestClient) -> None:
    bid = Decimal(client.get("/api/v1/ticker", params={"symbol": "SOL-USD"}).json()["bid"])
    price = bid - Decimal("0.01")
    body = {"client_order_id": "r1", "symbol": "SOL-USD", "side": "buy", "type": "post_only",
            "qty": "1.5", "price": str(price)}  # fmt: skip
    placed = client.post("/api/v1/orders", json=body, headers=KEY)
    assert placed.status_code == 200, placed.text
    assert placed.json()["status"] in {"acked", "filled", "partially_filled"}
    book = client.get("/api/v1/book", params={"symbol": "SOL-USD", "depth": 40}).json()
    levels = {Decimal(p): Decimal(q) for p, q in book["bids"]}
    if placed.json()["status"] == "acked":
        assert price in levels
        assert levels[price] >= Decimal("1.5")


@pytest.mark.parametrize(
    ("method", "path", "params", "body", "words"),
    [
        ("GET", "/api/v1/candles", {"symbol": "ETH-USD", "interval": "1m", "limit": 0}, None,
         "limit"),
        ("GET", "/api/v1/candles", {"symbol": "BTC-USD", "interval": "2m"}, None, "interval"),
        ("GET", "/api/v1/ticker", {"symbol": "XRP-USD"}, None, "XRP-USD"),
        ("GET", "/api/v1/book", {"symbol": "BTC-USD", "depth": -1}, None, "depth"),
        ("GET", "/api/v1/orders", {"open": "false"}, None, "open"),
        ("POST", "/api/v1/orders", {}, {"symbol": "BTC-USD"}, "client_order_id"),
        ("POST", "/api/v1/orders", {}, {"client_order_id": "x", "symbol": "BTC-USD",
                                         "side": "up", "qty": "1"}, "side"),
        ("POST", "/api/v1/orders", {}, {"client_order_id": "x", "symbol": "BTC-USD",
                                         "side": "buy", "qty": "NaN"}, "qty"),
    ],
)  # fmt: skip
def test_bad_requests_are_400_with_an_error_naming_the_problem(
    client: TestClient,
    method: str,
    path: str,
    params: dict[str, object],
    body: dict[str, object] | None,
    words: str,
) -> None:
    resp = client.request(method, path, params=params, json=body, headers=KEY)
    assert resp.status_code == 400
    assert words in resp.json()["error"]


def test_missing_or_wrong_key_is_401(client: TestClient) -> None:
    assert client.get("/api/v1/account").status_code == 401
    resp = client.get("/api/v1/account", headers={"X-API-Key": "nope"})
    assert resp.status_code == 401
    assert "X-API-Key" in resp.json()["error"]


def test_unknown_order_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/orders/zz", headers=KEY).status_code == 404
    assert client.delete("/api/v1/orders/zz", headers=KEY).status_code == 404


def test_market_socket_sends_a_snapshot_and_refuses_unknown_symbols(client: TestClient) -> None:
    with client.websocket_connect("/ws/market") as ws:
        ws.send_json({"op": "subscribe", "symbols": ["ETH-USD"]})
        msg = ws.receive_json()
        while msg["type"] != "tick":
            msg = ws.receive_json()
        assert msg["symbol"] == "ETH-USD"
        assert Decimal(msg["ask"]) > Decimal(msg["bid"])
        ws.send_json({"op": "subscribe", "symbols": ["XRP-USD"]})
        while msg["type"] != "error":
            msg = ws.receive_json()
        assert "XRP-USD" in msg["error"]


def test_account_socket_closes_on_a_bad_key(client: TestClient) -> None:
    with client.websocket_connect("/ws/account?api_key=nope") as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 4401


def test_account_socket_pushes_orders_and_fills(client: TestClient) -> None:
    with client.websocket_connect("/ws/account?api_key=k") as ws:
        body = {"client_order_id": "w1", "symbol": "BTC-USD", "side": "sell", "qty": "0.001"}
        assert client.post("/api/v1/orders", json=body, headers=KEY).status_code == 200
        fill = ws.receive_json()
        order = ws.receive_json()
    assert fill["type"] == "fill"
    assert fill["client_order_id"] == "w1"
    assert fill["liquidity"] == "taker"
    assert order["type"] == "order"
    assert order["status"] == "filled"
    assert order["order_type"] == "market"
