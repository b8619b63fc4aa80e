"""Editorial content: Markdown files parsed and validated (files), then upserted (sync)."""
