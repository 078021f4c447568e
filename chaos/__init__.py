"""Chaos runs: faults injected into a whole `tradebus up` stack while strategies trade on the sim
exchange, with the money invariants checked after each one. `python -m chaos` (`make chaos`) runs
every fault and prints the table; tests/chaos runs a short version in CI."""
