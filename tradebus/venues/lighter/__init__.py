"""Lighter (perp DEX): ccxt's `lighter` exchange covers markets, history, streams and orders;
signing needs Lighter's native signer library (shipped by `lighter-sdk`), only for live trading."""
