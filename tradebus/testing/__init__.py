"""Test support: real nats-server and Postgres processes, and polling with a deadline."""
