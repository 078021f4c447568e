"""Session-wide real infrastructure: one nats-server and one Postgres for the test run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tradebus.testing.servers import nats_server, postgres


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    with nats_server() as url:
        yield url


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    with postgres() as dsn:
        yield dsn
