"""Pre-send checks on a planned issue, and which links the link check requests."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from digest.content import files, sync
from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import checks, lifecycle, service
from digest.render import MAX_HTML_BYTES
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.settings import REPO_ROOT, Settings
from digest.store.models import (
    Issue,
    IssueItem,
    IssueState,
    ItemKind,
    Language,
    Review,
    Seminar,
)
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
    assert list(found) == ["translations", "size", "alt text", "seminars", "withdrawn",
                           "links"]
    assert all(c.ok for name, c in found.items() if name != "links"), found
    assert found["links"].ok is None  # "not checked yet", until an editor asks
    assert [d.split(":")[0] for d in found["size"].details] == ["both", "cy", "en"]
    links = found["links"].details
    assert links, "the demo issue's content links to other sites"
    assert not [u for u in links if u.startswith(settings.site_url)]
    html = "".join(v.html for v in service.variants(session, issue).values())
    assert f"{settings.site_url}/reviews/" in html  # in the email, but not in the list


def demo_issue(session: Session, settings: Settings) -> Issue:
    sync.upsert(session, files.load_dir(REPO_ROOT / "content"), settings.tz)
    service.plan(session, settings, AS_OF)
    session.commit()
    return session.exec(select(Issue)).one()


def test_checks_are_judged_against_the_send_time(session: Session, settings: Settings) -> None:
    """A seminar that starts after the page is looked at but before the issue goes out is
    a problem now, not once the subscribers find it already past."""
    issue = demo_issue(session, settings)
    assert issue.send_after is not None
    in_issue = session.exec(select(IssueItem.item_id).where(
        IssueItem.issue_id == issue.id, IssueItem.kind == ItemKind.SEMINAR)).all()
    first = session.exec(select(Seminar).where(col(Seminar.id).in_(in_issue))).first()
    assert first is not None
    first.starts_at = issue.send_after + timedelta(hours=-1)  # before the send, after AS_OF
    session.commit()
    assert checks.send_time(issue, AS_OF) == issue.send_after
    report = checks.page_checks(session, issue, AS_OF, settings.site_url)
    assert report.at == issue.send_after and not report.at_send
    seminars = next(c for c in report.checks if c.name == "seminars")
    assert seminars.ok is False and seminars.facts == [
        {"slug": first.slug, "starts": first.starts_at.isoformat()}]
    assert "before the send time" in seminars.details[0]
    # Looked at after the send time (a missed approval): judged as of now.
    late = issue.send_after + timedelta(days=3)
    assert checks.page_checks(session, issue, late, settings.site_url).at == late


def test_the_link_check_says_not_run_until_it_has_run(session: Session,
                                                     settings: Settings) -> None:
    issue = demo_issue(session, settings)
    before = next(c for c in checks.issue_checks(session, issue, AS_OF, settings.site_url)
                  if c.name == "links")
    assert before.ok is None and before.details
    results = [(url, True, "200") for url in before.details]
    results[0] = (before.details[0], False, "404")
    checks.record_link_check(session, issue, results, AS_OF)
    session.commit()
    after = next(c for c in checks.issue_checks(session, issue, AS_OF, settings.site_url)
                 if c.name == "links")
    assert after.ok is False
    assert after.facts[0] == {"url": before.details[0], "ok": False, "status": "404"}
    checks.record_link_check(session, issue, [(u, True, "200") for u in before.details], AS_OF)
    assert next(c for c in checks.issue_checks(session, issue, AS_OF, settings.site_url)
                if c.name == "links").ok is True
    service.replan(session, settings, issue, AS_OF, "test")  # a new render: checked again
    assert issue.link_check is None


def test_a_sent_issue_shows_the_checks_as_they_were_at_sending(
        session: Session, settings: Settings, engine: Engine) -> None:
    issue = demo_issue(session, settings)
    lifecycle.approve(session, issue, "test")
    session.commit()
    started = AS_OF + timedelta(days=1, hours=9)
    run.send_issue(engine, settings, issue.id or 0, lambda: MemoryTransport(),
                   clock=lambda: started)
    session.expire_all()
    sent = session.get(Issue, issue.id)
    assert sent is not None and sent.state is IssueState.SENT
    issue = sent
    assert issue.send_checks is not None and issue.send_checks["at"] == started.isoformat()
    # Months later every seminar is past, and a title lost its Welsh: the sent issue's page
    # still shows what the checks said when it went out.
    review = session.exec(select(Review)).first()
    assert review is not None
    review.title_cy = None
    session.commit()
    later = AS_OF + timedelta(days=200)
    report = checks.page_checks(session, issue, later, settings.site_url)
    assert report.at_send and report.at == started
    by_name = {c.name: c for c in report.checks}
    assert by_name["seminars"].ok and by_name["translations"].ok
    assert by_name["links"].ok is None
    assert not next(c for c in checks.issue_checks(session, issue, later, settings.site_url)
                    if c.name == "seminars").ok  # judged now, they would fail


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


def test_the_size_check_states_the_limit_it_applies(session: Session, settings: Settings) -> None:
    issue = demo_issue(session, settings)
    cy = service.variants(session, issue)[Language.CY]

    def size_check(html_bytes: int) -> checks.Check:
        cy.html = "x" * html_bytes
        session.add(cy)
        session.flush()
        return next(c for c in checks.issue_checks(session, issue, AS_OF, settings.site_url)
                    if c.name == "size")

    under = size_check(MAX_HTML_BYTES - 1)  # one byte under: shown under, not as the limit
    assert under.ok and f"cy: 99.9 KB of {MAX_HTML_BYTES // 1000} KB" in under.details
    assert f"cy: 1.0 KB of {MAX_HTML_BYTES // 1000} KB" in size_check(1_050).details
    over = size_check(MAX_HTML_BYTES)
    assert not over.ok
    assert {"variant": "cy", "kb": 100.0, "limit_kb": MAX_HTML_BYTES // 1000} in over.facts
