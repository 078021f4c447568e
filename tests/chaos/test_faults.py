"""CI's short chaos run (`make chaos` is the full one): one fault of each kind, short, against a
whole `tradebus up` stack while three strategies trade on the sim. After each fault, with no help:
every process is back, no fill is lost, no venue order is duplicated, and the venue, the strategies'
sum, the gateway and the ledger agree on every position."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos import stack as stacks
from chaos.faults import short_plan
from chaos.runner import run, table

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stacks.Stack]:
    s = stacks.start(Path(tmp_path_factory.mktemp("chaos")))
    try:
        yield s
    finally:
        stacks.stop(s)


async def test_every_fault_once_and_the_money_still_adds_up(stack: stacks.Stack) -> None:
    names = tuple(name for name, _ in stacks.STRATEGIES)
    plan = short_plan(names)
    result = await run(stack, plan, recovery_timeout=40, settle_timeout=30)
    print("\n" + table(result))  # noqa: T201 -- the measured figures, shown with -s
    assert [r.fault for r in result.rows] == [f.name for f in plan]
    failed = [(r.fault, r.recovery_s, r.problems) for r in result.rows if not r.ok]
    assert failed == []
    assert result.fills > 0 and result.orders > 0  # it really traded through the faults
