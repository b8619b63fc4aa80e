"""axe-core (from npm, like the MJML validator) run in a Playwright page: WCAG A/AA and the
best-practice rules, and a page's horizontal overflow.

The script is evaluated through the DevTools protocol, so the page's own Content-Security-Policy
(no inline script) does not stop it and the page needs no change to be tested.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from digest.settings import REPO_ROOT
from tests.conftest import skip_or_fail

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# Frames are tested as pages of their own (the email variants): waiting on frames that cannot
# answer (sandboxed, no script) would only time out.
RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                          iframes: false, resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
}"""


@cache
def axe_source() -> str:
    """axe.min.js, or skip/fail saying how to get it."""
    if not AXE.exists():
        skip_or_fail("axe-core missing: run `npm ci` in the repo (python3 dev.py test does it "
                     "when npm is installed)")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe-core violation on the page as loaded (WCAG 2.x A/AA and best practice)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source() + "\n;undefined")
    found: list[dict[str, Any]] = page.evaluate(RUN, TAGS)
    return found


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no sideways scroll)."""
    width: int = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    return max(0, width)


def add_css(page: Page, css: str) -> None:
    """Add a style sheet to the page as a constructed sheet: our pages' CSP (style-src 'self')
    refuses an injected <style>, and a test's control rules must still apply."""
    page.evaluate("""css => { const sheet = new CSSStyleSheet(); sheet.replaceSync(css);
        document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet]; }""", css)
