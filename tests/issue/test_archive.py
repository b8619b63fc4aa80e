"""The archive's reads (sent issues only, newest first, when they went out) and an issue's
public copy (no personal lines, links to the configured site)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlmodel import Session

from digest.issue import lifecycle, service
from digest.issue.archive import public_copy, sent_issue, sent_issues
from digest.render.placeholders import PREFS_PLACEHOLDER, UNSUB_PLACEHOLDER
from digest.settings import Settings
from digest.store.models import Issue, IssueAction, IssueState, Language
from tests.factories import AS_OF, add_review

INVITE = {"cy": "Cael y crynodeb bob mis", "en": "Get the digest every month"}
STARTED = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)


def send(session: Session, issue: Issue, at: datetime = STARTED) -> None:
    """Approve and take the issue through sending to sent, as a send run does."""
    lifecycle.approve(session, issue, "test")
    assert lifecycle.move(session, issue, IssueState.SENDING)
    lifecycle.record(session, issue, "test", IssueAction.SEND_STARTED, at=at)
    lifecycle.finish_send(session, issue, 0)
    session.commit()


def test_only_sent_issues_newest_first_with_their_send_time(
        session: Session, db_settings: Settings, draft: Issue) -> None:
    assert sent_issues(session) == [] and sent_issue(session, "2026-09") is None
    send(session, draft)
    add_review(session, "october", datetime(2026, 10, 2, tzinfo=UTC))
    october = service.plan(session, db_settings, AS_OF.replace(month=10)).issue
    session.commit()
    assert october is not None and october.state is IssueState.DRAFT  # not in the archive
    found = sent_issues(session)
    assert [a.period for a in found] == ["2026-09"]
    assert found[0].sent_at == STARTED
    assert set(found[0].variants) == set(Language)
    send(session, october, STARTED.replace(month=10))
    assert [a.period for a in sent_issues(session)] == ["2026-10", "2026-09"]
    assert [a.period for a in sent_issues(session, limit=1)] == ["2026-10"]
    one = sent_issue(session, "2026-09")
    assert one is not None and one.variants[Language.CY].subject.endswith("Medi 2026")


def test_public_copy_invites_instead_of_the_personal_lines(
        session: Session, db_settings: Settings, draft: Issue) -> None:
    stored = service.variants(session, draft)[Language.BOTH].html
    site = db_settings.site_url
    copy = public_copy(stored, site, INVITE)
    assert UNSUB_PLACEHOLDER not in copy and PREFS_PLACEHOLDER not in copy
    assert "/u/" not in copy and "/p/" not in copy
    assert "Dad-danysgrifio" not in copy and "Unsubscribe" not in copy
    assert "You receive this monthly digest" not in copy
    footers = re.findall(r'<div lang="(cy|en)" class="footer"[^>]*><a href="([^"]+)">([^<]+)</a>',
                         copy)
    assert footers == [("cy", f"{site}/subscribe?lang=cy", INVITE["cy"]),
                       ("en", f"{site}/subscribe?lang=en", INVITE["en"])]
    assert copy.count("<div") == stored.count("<div")  # only the personal lines changed


def test_public_copy_points_our_links_at_the_configured_site(
        session: Session, db_settings: Settings, draft: Issue) -> None:
    stored = service.variants(session, draft)[Language.EN].html
    old = db_settings.site_url.rstrip("/")
    assert f'href="{old}/archive/2026-09/en"' in stored  # "View in your browser"
    copy = public_copy(stored, "https://digest.example.cymru/", INVITE)
    assert old not in copy
    assert 'href="https://digest.example.cymru/archive/2026-09/en"' in copy
    assert 'href="https://digest.example.cymru/subscribe?lang=en"' in copy
    assert 'href="https://example.org/' in copy  # other sites' links are left alone


def test_public_copy_of_an_email_rendered_before_the_markers(db_settings: Settings) -> None:
    site = db_settings.site_url
    legacy = (f'<div lang="en" class="footer">You receive it.<br><a href="{site}/p/'
              f'{PREFS_PLACEHOLDER}">Preferences</a><br><a href="{site}/u/{UNSUB_PLACEHOLDER}">'
              "Unsubscribe</a></div>")
    copy = public_copy(legacy, site, INVITE)
    assert "ZZdigest" not in copy and copy.count(f'href="{site}/subscribe"') == 2
