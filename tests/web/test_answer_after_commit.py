"""A write's answer leaves only after its transaction committed (GUIDE: a provider's one-click
POST must be honoured when it gets its 200, and a failure must be a 5xx so that it retries).

FastAPI runs the end of a `yield` dependency after the response is sent unless it is
function-scoped: this test looks at the database at the moment the response starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from digest.settings import Settings
from digest.store.models import Language, Subscriber, SubscriberState
from digest.tokens import Purpose, Tokens
from digest.web.app import create_app

Message = MutableMapping[str, Any]
ASGI = Callable[[MutableMapping[str, Any], Callable[[], Awaitable[Message]],
                 Callable[[Message], Awaitable[None]]], Awaitable[None]]


def watching(app: ASGI, look: Callable[[], None]) -> ASGI:
    """`app`, calling `look()` when its response starts."""
    async def wrapped(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
                      send: Callable[[Message], Awaitable[None]]) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                look()
            await send(message)
        await app(scope, receive, sending)
    return wrapped


def test_one_click_unsubscribe_is_committed_before_its_200(
        engine: Engine, session: Session, db_settings: Settings) -> None:
    sub = Subscriber(email="eleri@example.org", language=Language.CY,
                     state=SubscriberState.ACTIVE)
    session.add(sub)
    session.commit()
    seen: list[SubscriberState] = []

    def look() -> None:
        with Session(engine) as other:  # another connection: sees only what is committed
            row = other.get(Subscriber, sub.id)
            assert row is not None
            seen.append(row.state)

    app = create_app(db_settings, engine)
    token = Tokens(db_settings).make(Purpose.UNSUBSCRIBE, sub.id or 0)
    with TestClient(watching(app, look), base_url="https://digest.example.org") as client:  # type: ignore[arg-type]
        done = client.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    assert seen == [SubscriberState.UNSUBSCRIBED]
