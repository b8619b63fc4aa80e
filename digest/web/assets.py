"""The pages' stylesheet, served by the app (/static/site.css): no inline style anywhere."""

from __future__ import annotations

from fastapi.responses import Response

from digest.web.pages import Router, Svc

router = Router()


@router.get("/static/site.css")
def stylesheet(svc: Svc) -> Response:
    """templates/web/site.css, cached for an hour."""
    css = (svc.settings.templates_dir / "web" / "site.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600"})
