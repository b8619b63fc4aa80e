"""The editor's buttons refuse what the CLI refuses, with their own notice in Welsh and
English, and change nothing: a replan to nothing new, approving an issue with no items,
sending with a setting the send cannot use."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from sqlmodel import Session, col, delete, select

from digest.issue import lifecycle, service
from digest.store.models import (
    Delivery,
    Issue,
    IssueItem,
    IssueState,
    IssueVariant,
)
from tests.factories import AS_OF
from tests.issue.test_reopen import withdraw_a_review
from tests.web.client import issue_id, login
from tests.web.conftest import MakeWeb, Web


def notice(web: Web, csrf: str, iid: int, action: str) -> str:
    """Post an action; the notice code it redirects with."""
    answer = web[0].post(f"/editor/issues/{iid}/{action}", data={"csrf": csrf})
    assert answer.status_code == 303
    return str(answer.headers["location"]).rpartition("notice=")[2]


def frozen(session: Session, iid: int) -> tuple[object, ...]:
    """The issue's state, items, variants and history."""
    session.rollback()
    issue = session.get(Issue, iid)
    assert issue is not None
    items = session.exec(select(IssueItem.item_id).where(IssueItem.issue_id == iid)).all()
    return (issue.state, sorted(items), issue.cutoff_at,
            {k: v.html for k, v in service.variants(session, issue).items()},
            [e.action for e in lifecycle.history(session, issue)])


def test_a_replan_to_nothing_new_is_refused_with_its_notice(make_web: MakeWeb,
                                                            session: Session) -> None:
    with time_machine.travel(AS_OF + timedelta(hours=1), tick=False):  # in the issue's month
        web = make_web(min_new_items=1000)
        csrf, iid = login(web[0]), issue_id(session)
        before = frozen(session, iid)
        assert notice(web, csrf, iid, "replan") == "not-replanned-nothing-new"
        assert frozen(session, iid) == before
        page = f"/editor/issues/{iid}?notice=not-replanned-nothing-new"
        assert "nothing new would be chosen as of now" in web[0].get(page + "&lang=en").text
        assert "ni fyddai dim byd newydd yn cael ei ddewis nawr" in \
            web[0].get(page + "&lang=cy").text.replace("&#39;", "'")


def test_approving_an_issue_with_no_items_is_refused_with_its_notice(web: Web,
                                                                    session: Session) -> None:
    csrf, iid = login(web[0]), issue_id(session)
    for item in session.exec(select(IssueItem).where(IssueItem.issue_id == iid)).all():
        session.delete(item)
    session.commit()
    before = frozen(session, iid)
    assert notice(web, csrf, iid, "approve") == "not-approved-empty"
    assert frozen(session, iid) == before and before[0] is IssueState.DRAFT
    page = f"/editor/issues/{iid}?notice=not-approved-empty"
    assert "Not approved: the issue has no items." in web[0].get(page + "&lang=en").text
    assert "does dim eitemau yn y rhifyn" in web[0].get(page + "&lang=cy").text


def test_approving_an_issue_carrying_a_withdrawn_item_is_refused_with_its_notice(
        web: Web, session: Session) -> None:
    csrf, iid = login(web[0]), issue_id(session)
    slug = withdraw_a_review(session, iid)
    before = frozen(session, iid)
    assert notice(web, csrf, iid, "approve") == "not-approved-withdrawn"
    assert frozen(session, iid) == before and before[0] is IssueState.DRAFT
    page = f"/editor/issues/{iid}?notice=not-approved-withdrawn"
    english = web[0].get(page + "&lang=en").text
    assert "Not approved: the issue carries a withdrawn item" in english
    assert f"{slug} is withdrawn: replan to drop it" in english  # under Checks
    welsh = web[0].get(page + "&lang=cy").text.replace("&#39;", "'")
    assert "mae eitem a dynnwyd yn ôl yn y rhifyn" in welsh
    assert f"{slug}: wedi'i thynnu'n ôl" in welsh


@pytest.mark.parametrize("changes", [
    {"dkim_selector": "s", "dkim_private_key_path": Path("/nowhere/dkim.pem")},
    {"bounce_address": "bounces+x@example.org"},
])
def test_the_send_and_test_buttons_refuse_settings_the_send_would_refuse(
        make_web: MakeWeb, session: Session, changes: dict[str, object]) -> None:
    """The checks `digest issue send` makes before writing, made before queueing a send: the
    issue stays approved, no outbox row is made, nothing reaches the relay."""
    web = make_web(**changes)
    csrf, iid = login(web[0]), issue_id(session)
    issue = session.get(Issue, iid)
    assert issue is not None
    lifecycle.approve(session, issue, "Siân")
    session.commit()
    before = frozen(session, iid)
    assert notice(web, csrf, iid, "send") == "not-sent-settings"
    tested = web[0].post(f"/editor/issues/{iid}/test", data={
        "csrf": csrf, "address": "qa@example.org", "language": "en"}, headers={
        "Accept-Language": "en"})
    assert tested.status_code == 400 and "Not sent: a setting the send needs" in tested.text
    assert frozen(session, iid) == before and before[0] is IssueState.APPROVED
    assert session.exec(select(Delivery).where(Delivery.issue_id == iid)).all() == []
    assert web[1].sent == []
    page = f"/editor/issues/{iid}?notice=not-sent-settings"
    assert "Nothing was changed." in web[0].get(page + "&lang=en").text
    assert "Does dim wedi newid." in web[0].get(page + "&lang=cy").text


def test_a_test_with_no_variant_chosen_or_stored_is_a_400_with_its_notice(
        web: Web, session: Session) -> None:
    client, transport, _ = web
    csrf, iid = login(client), issue_id(session)
    before = frozen(session, iid)
    forms: list[dict[str, str]] = [{"language": ""}, {"language": "fr"}, {"language": "CY"}, {}]
    for form in forms:
        answer = client.post(f"/editor/issues/{iid}/test", data={
            "csrf": csrf, "address": "qa@example.org", **form}, headers={"Accept-Language": "en"})
        assert answer.status_code == 400, form
        assert "Not sent: a test needs one of this issue&#39;s variants" in answer.text
    session.rollback()  # a snapshot read before the requests cannot write on SQLite
    session.exec(delete(IssueVariant).where(col(IssueVariant.issue_id) == iid))  # type: ignore[call-overload]
    session.commit()
    welsh = client.post(f"/editor/issues/{iid}/test?lang=cy", data={
        "csrf": csrf, "address": "qa@example.org", "language": "cy"})
    assert welsh.status_code == 400
    assert "mae angen un o fersiynau" in welsh.text.replace("&#39;", "'")
    assert transport.sent == []
    assert frozen(session, iid)[-1] == before[-1]  # no test recorded in the history


@pytest.mark.parametrize("state", [IssueState.SENDING, IssueState.SENT])
def test_checking_the_links_of_a_started_issue_is_refused_with_its_notice(
        web: Web, session: Session, monkeypatch: pytest.MonkeyPatch, state: IssueState) -> None:
    # Its page hides the button and shows the checks kept when sending started; the route
    # still requested every link, wrote the results into the sent issue, and said "Links
    # checked: ... under Checks", where they never showed.
    from digest.issue import checks

    def requested(urls: list[str], timeout: float = 5.0) -> list[tuple[str, bool, str]]:
        raise AssertionError("no link of a started issue is requested")

    monkeypatch.setattr(checks, "check_links", requested)
    csrf, iid = login(web[0]), issue_id(session)
    issue = session.get(Issue, iid)
    assert issue is not None
    issue.state = state
    session.commit()
    assert notice(web, csrf, iid, "check-links") == "links-not-checked"
    session.rollback()
    assert session.get(Issue, iid).link_check is None  # type: ignore[union-attr]
    page = f"/editor/issues/{iid}?notice=links-not-checked"
    assert "Links not checked" in web[0].get(page + "&lang=en").text
    assert "Heb wirio" in web[0].get(page + "&lang=cy").text


def test_sending_an_approved_issue_carrying_a_withdrawn_item_is_refused_until_reopened(
        web: Web, session: Session) -> None:
    """Before, the button queued the send and answered "Sending started"; the send then
    mailed the withdrawn item to everyone. Now: refused, nothing written; Reopen is offered."""
    csrf, iid = login(web[0]), issue_id(session)
    issue = session.get(Issue, iid)
    assert issue is not None
    lifecycle.approve(session, issue, "Siân")
    session.commit()
    withdraw_a_review(session, iid)
    before = frozen(session, iid)
    assert notice(web, csrf, iid, "send") == "not-sent-withdrawn"
    assert frozen(session, iid) == before and before[0] is IssueState.APPROVED
    assert session.exec(select(Delivery).where(Delivery.issue_id == iid)).all() == []
    assert web[1].sent == []
    page = web[0].get(f"/editor/issues/{iid}?notice=not-sent-withdrawn&lang=en").text
    assert "Not sent: the issue carries a withdrawn item (see Checks). Reopen it" in page
    assert f'action="/editor/issues/{iid}/reopen"' in page and "Reopen as a draft" in page
    welsh = web[0].get(f"/editor/issues/{iid}?notice=not-sent-withdrawn&lang=cy").text
    assert "Ailagorwch ef" in welsh and "Ailagor fel drafft" in welsh
    for reason in ("", "two\nlines"):  # a reason is required, one line
        answer = web[0].post(f"/editor/issues/{iid}/reopen", data={"csrf": csrf,
                                                                   "reason": reason})
        assert answer.headers["location"].endswith("notice=reason-refused")
    assert frozen(session, iid) == before
    answer = web[0].post(f"/editor/issues/{iid}/reopen", data={"csrf": csrf,
                                                               "reason": "retracted"})
    assert answer.headers["location"].endswith("notice=reopened")
    after = frozen(session, iid)
    history = after[-1]
    assert after[0] is IssueState.DRAFT and isinstance(history, list)
    assert history[-1] == "reopened"
    assert "reopened as a draft" in web[0].get(f"/editor/issues/{iid}?lang=en").text
    again = web[0].post(f"/editor/issues/{iid}/reopen", data={"csrf": csrf, "reason": "x"})
    assert again.headers["location"].endswith("notice=not-reopened")
    assert frozen(session, iid) == after


def test_reopen_needs_the_editor_s_csrf_token(web: Web, session: Session) -> None:
    login(web[0])
    iid = issue_id(session)
    issue = session.get(Issue, iid)
    assert issue is not None
    lifecycle.approve(session, issue, "Siân")
    session.commit()
    answer = web[0].post(f"/editor/issues/{iid}/reopen", data={"csrf": "forged",
                                                               "reason": "x"})
    assert answer.status_code == 403
    assert frozen(session, iid)[0] is IssueState.APPROVED
