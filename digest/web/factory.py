"""The app built from the environment's settings: uvicorn's factory for `digest serve --workers`.

Each worker process imports this and builds its own app (its own engine and pool); they share
everything else through the database.
"""

from __future__ import annotations

from fastapi import FastAPI

from digest.settings import Settings


def app() -> FastAPI:
    """A new app from the settings in the environment (and .env)."""
    from digest.web import logs
    from digest.web.app import create_app

    logs.install()  # each worker's own logging: token pages shown without their tokens
    return create_app(Settings())
