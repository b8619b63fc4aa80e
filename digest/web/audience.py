"""The audience's pages: editors' subscribers list, subscriber page and actions, exports and
reports (behind the login), plus the click counter and subscribers' own privacy pages."""

from __future__ import annotations

from fastapi import APIRouter

from digest.web import clicks

router = APIRouter()
router.include_router(clicks.router)
