"""Bounces and complaints read back: VERP tags, report parsing, sources, webhooks, policy."""
