"""Where each item of an email links: straight to its target, or through the site's own
click counter `/r/<issue>/<item>/<lang>` (only with DIGEST_CLICK_COUNTS; see
digest.audience.engagement). The redirect path names the issue, the item's position in it
and the block's language, and nothing about the reader."""

from __future__ import annotations

from digest.render.views import IssueContent, NewsView, ReviewView, SeminarView

View = ReviewView | SeminarView | NewsView


def target(view: View, site: str, lang: str) -> str | None:
    """The item's own link in `lang` (None: the item links nowhere)."""
    if isinstance(view, ReviewView):
        return view.link(site, lang)
    return view.url


def click_path(period: str, position: int, lang: str) -> str:
    """The counter's path for one item of one issue in one language."""
    return f"/r/{period}/{position}/{lang}"


class Links:
    """The `link(item)` function an email template calls, for one language block."""

    def __init__(self, content: IssueContent, site: str, lang: str, counted: bool) -> None:
        self.content, self.site, self.lang, self.counted = content, site, lang, counted
        # Positions as the issue stores them (digest.issue.service._freeze): reviews, then
        # seminars, then news, in display order.
        items: list[View] = [*content.reviews, *content.seminars, *content.news]
        self.positions = {id(item): i for i, item in enumerate(items)}

    def __call__(self, view: View) -> str:
        """The URL the email uses for `view`."""
        url = target(view, self.site, self.lang) or ""
        if not self.counted or not url:
            return url
        return self.site + click_path(self.content.period, self.positions[id(view)], self.lang)
