"""Delivery: the outbox, a send run, per-subscriber messages, the relay port and adapters."""
