"""The side-by-side view (behind the login): each item's Welsh and English next to each other."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from digest.issue.compare import side_by_side
from digest.web.editor import issue_by_id, page
from digest.web.pages import ReadDb, Router
from digest.web.public import MARKDOWN
from digest.web.sessions import Editor

router = Router(prefix="/editor")
_HEADING = re.compile(r"<(/?)h([1-6])>")


def body_html(text: str) -> Markup:
    """A body's Markdown as HTML, its headings two levels down (under the item's h2 and the
    field's h3)."""
    html = MARKDOWN.render(text)  # markdown-it escapes the text
    return Markup(_HEADING.sub(lambda m: f"<{m.group(1)}h{min(6, int(m.group(2)) + 2)}>", html))


@router.get("/issues/{issue_id}/side-by-side", response_class=HTMLResponse)
def side_by_side_page(request: Request, issue_id: str, who: Editor,
                      session: ReadDb) -> Response:
    """Title, teaser (and place) and body of every item in Welsh and English, the missing or
    much shorter translations flagged and listed first."""
    issue = issue_by_id(session, issue_id)
    return page(request, who, "editor_side_by_side.html.j2", issue=issue,
                items=side_by_side(session, issue), body_html=body_html)
