from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.venuekit.netguard import local_only


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every venue test runs with non-local connections refused."""
    with local_only(monkeypatch) as refused:
        yield refused
