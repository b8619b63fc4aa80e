"""Pre-send checks on a planned issue, and which links the link check requests."""

from __future__ import annotations

from sqlmodel import Session, select

from digest.content import files, sync
from digest.issue import checks, service
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.settings import REPO_ROOT, Settings
from digest.store.models import Issue
from tests.factories import AS_OF

SITE = "https://digest.example.org"


def test_scan_leaves_out_our_own_and_personal_links_and_counts_missing_alt() -> None:
    html = f"""
        <a href="https://example.org/paper">paper</a> <a href="https://example.org/paper">again</a>
        <a href="{SITE}/reviews/a-review?lang=cy">review</a>
        <a href="{SITE}/archive/2026-09/cy">online</a>
        <a href="{SITE}/u/{UNSUB_PLACEHOLDER}">unsubscribe</a>
        <a href="{SITE}/p/{PREFS_PLACEHOLDER}">prefs</a>
        <a href="mailto:editor@example.org">mail</a> <a href="#english">jump</a>
        <img src="x.png"> <img src="y.png" alt="">"""
    links, missing_alt = checks.scan(html, SITE + "/")
    assert links == ["https://example.org/paper"]
    assert missing_alt == 1  # alt="" is a deliberate empty alt; no alt at all is not


def test_issue_checks_on_the_demo_issue(session: Session, settings: Settings) -> None:
    sync.upsert(session, files.load_dir(REPO_ROOT / "content"), settings.tz)
    service.plan(session, settings, AS_OF)
    session.commit()
    issue = session.exec(select(Issue)).one()
    found = {c.name: c for c in checks.issue_checks(session, issue, AS_OF, settings.site_url)}
    assert list(found) == ["translations", "size", "alt text", "seminars", "links"]
    assert all(c.ok for c in found.values()), found
    assert [d.split(":")[0] for d in found["size"].details] == ["both", "cy", "en"]
    links = found["links"].details
    assert links, "the demo issue's content links to other sites"
    assert not [u for u in links if u.startswith(settings.site_url)]
    html = "".join(v.html for v in service.variants(session, issue).values())
    assert f"{settings.site_url}/reviews/" in html  # in the email, but not in the list


def test_link_checks_request_only_public_addresses() -> None:
    """A link to loopback, a private network or the cloud metadata address is not requested
    (the server would be probing where only it can reach); a public one is."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    local = f"http://127.0.0.1:{server.server_address[1]}/admin"
    named = f"http://localhost:{server.server_address[1]}/admin"
    try:
        results = checks.check_links([local, named, "http://169.254.169.254/latest/meta-data",
                                      "http://10.0.0.1/", "http://[::1]/"], timeout=1)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == []
    assert all(not ok and "not a public address" in why for _, ok, why in results), results
    public = checks.check_links(["http://1.1.1.1/"], timeout=0.5)[0]
    assert "not a public address" not in public[2]  # tried (this machine may have no route)
