"""Test kit for venue adapters: a network guard, recorded payloads, a recorded-response transport."""
