"""Alpaca (US equities): ccxt's `alpaca` class does the auth headers, paper/live URLs and rate
limits; its unified methods cover crypto only, so the equity endpoints (assets, stock bars, orders,
positions, clock) are called through ccxt's raw `request` and parsed here; streams use websockets."""
