"""Every web route over HTTP (FastAPI TestClient), including the refusals."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery import run
from digest.delivery.transports.memory import MemoryTransport
from digest.issue import lifecycle, service
from digest.settings import Settings
from digest.store.models import (
    Issue,
    IssueState,
    Language,
    Review,
    Subscriber,
    SubscriberState,
    now_utc,
)
from digest.text import MAX_REASON
from digest.web.auth import hash_password, verify_password
from tests.factories import AS_OF, add_review
from tests.web.client import PASSWORD, SITE, altered, issue_id, login, subscriber_tokens


def test_password_hashes() -> None:
    stored = hash_password("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_password("s3cret", stored) and not verify_password("wrong", stored)


def test_editor_pages_need_a_login(web: tuple[TestClient, MemoryTransport, Settings],
                                   session: Session) -> None:
    client, _, _ = web
    iid = issue_id(session)
    for path in ("/editor", f"/editor/issues/{iid}", f"/editor/issues/{iid}/email/cy"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == f"{SITE}/editor/login"
    for action in ("approve", "cancel", "replan", "send", "test", "check-links"):
        response = client.post(f"/editor/issues/{iid}/{action}", data={"csrf": "x"})
        assert response.status_code == 303, action
    assert session.get(Issue, iid).state is IssueState.DRAFT  # type: ignore[union-attr]


def test_login_refusals(web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, _ = web
    page = client.get("/editor/login?lang=en")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    wrong = client.post("/editor/login", data={"name": "sian", "password": "nope",
                                               "csrf": csrf})
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    unknown = client.post("/editor/login", data={"name": "eve", "password": PASSWORD,
                                                 "csrf": csrf})
    assert unknown.status_code == 401
    forged = client.post("/editor/login", data={"name": "sian", "password": PASSWORD,
                                                "csrf": "forged"})
    assert forged.status_code == 403
    assert client.get("/editor").status_code == 303


def test_preview_checks_and_actions(web: tuple[TestClient, MemoryTransport, Settings],
                                    session: Session) -> None:
    client, transport, _ = web
    csrf = login(client)
    iid = issue_id(session)
    listing = client.get("/editor")
    assert listing.status_code == 200 and "2026-09" in listing.text and "draft" in listing.text
    page = client.get(f"/editor/issues/{iid}?variant=cy")
    assert page.status_code == 200
    assert "Crynodeb Ymchwil Gwaith Cymdeithasol: Medi 2026" in page.text
    assert '<div class="frame desktop"><iframe id="desktop" sandbox="' in page.text
    assert '<div class="frame phone"><iframe id="phone" sandbox="' in page.text
    assert "style=" not in page.text  # the CSP allows no inline style
    for check in ("Translations", "Size", "Alt text", "Seminars", "Links to other sites"):
        assert f"<strong>{check}</strong>" in page.text
    email = client.get(f"/editor/issues/{iid}/email/both")
    assert email.text.startswith("<!doctype html>") and "ZZdigest" not in email.text

    # Without the CSRF token nothing happens.
    assert client.post(f"/editor/issues/{iid}/approve", data={}).status_code in (403, 422)
    assert client.post(f"/editor/issues/{iid}/approve",
                       data={"csrf": "forged"}).status_code == 403

    test = client.post(f"/editor/issues/{iid}/test", data={
        "csrf": csrf, "address": "sian@example.org", "language": "cy"})
    assert test.status_code == 303
    assert [m.recipient for m in transport.sent] == ["sian@example.org"]
    assert message_from_bytes(transport.sent[0].data, policy=default)["Subject"].startswith(
        "[PRAWF / TEST] Crynodeb")

    approved = client.post(f"/editor/issues/{iid}/approve", data={"csrf": csrf})
    assert approved.status_code == 303 and "notice=approved" in approved.headers["location"]
    assert "Approved. The issue can now be sent." in client.get(approved.headers["location"]).text
    sent = client.post(f"/editor/issues/{iid}/send", data={"csrf": csrf})
    assert sent.status_code == 303  # the background task has run by the time TestClient returns
    assert len(transport.sent) == 1 + 35
    session.rollback()
    issue = session.get(Issue, iid)
    assert issue is not None and issue.state is IssueState.SENT
    actors = [(e.actor, e.action) for e in lifecycle.history(session, issue)]
    assert ("sian", "test_sent") in actors and ("sian", "approved") in actors
    assert ("sian", "send_started") in actors
    page = client.get(f"/editor/issues/{iid}?variant=en")
    assert "sian: approved" in page.text
    assert "As they were when sending started" in page.text


def test_cancel_and_replan(web: tuple[TestClient, MemoryTransport, Settings],
                           session: Session) -> None:
    client, _, _ = web
    csrf = login(client)
    iid = issue_id(session)
    replanned = client.post(f"/editor/issues/{iid}/replan", data={"csrf": csrf})
    assert replanned.status_code == 303  # now is in November, not in the issue's September
    assert "notice=not-replanned" in replanned.headers["location"]
    cancelled = client.post(f"/editor/issues/{iid}/cancel", data={"csrf": csrf,
                                                                  "reason": "test"})
    assert "notice=cancelled" in cancelled.headers["location"]
    session.rollback()
    assert session.get(Issue, iid).state is IssueState.CANCELLED  # type: ignore[union-attr]


def gapped_draft(web: tuple[TestClient, MemoryTransport, Settings],
                 session: Session) -> tuple[str, Issue]:
    """Log in and give the demo draft a translation gap: the CSRF token and the issue."""
    client, _, settings = web
    csrf = login(client)
    issue = session.get(Issue, issue_id(session))
    assert issue is not None
    add_review(session, "english-only", AS_OF - timedelta(days=2), welsh=False)
    service.replan(session, settings, issue, AS_OF, "test")
    session.commit()
    return csrf, issue


def test_refused_actions_say_why_and_change_nothing(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session) -> None:
    """Each refusal answers with its own notice and leaves the issue and its history as they
    were; a translation gap is refused until a reason is given."""
    client = web[0]
    csrf, issue = gapped_draft(web, session)
    iid = issue.id

    def act(action: str, **form: str) -> str:
        answer = client.post(f"/editor/issues/{iid}/{action}", data={"csrf": csrf, **form})
        assert answer.status_code == 303
        return answer.headers["location"].rpartition("notice=")[2]

    def actions() -> list[str]:
        session.rollback()
        return [e.action for e in lifecycle.history(session, issue)]

    before = actions()
    assert act("approve") == "not-approved-translations"
    assert actions() == before and issue.state is IssueState.DRAFT
    assert act("approve", reason="translator ill; Welsh next month") == "approved"
    assert actions() == [*before, "force_approved"]
    assert act("approve", reason="again") == "not-approved"  # only a draft can be approved
    assert act("cancel", reason="test") == "cancelled"
    assert act("cancel", reason="again") == "not-cancelled"
    assert act("approve", reason="too late") == "not-approved"
    assert actions() == [*before, "force_approved", "cancelled"]
    assert session.get(Issue, iid).state is IssueState.CANCELLED  # type: ignore[union-attr]


@pytest.mark.parametrize("reason", [
    "two\nlines", "carriage\rreturn", "tab\tin it", "bell\x07", "rtl \u202egnp.exe",
    "isolate \u2066x\u2069", "para\u2029sep", "x" * (MAX_REASON + 1)])
def test_a_reason_the_cli_would_refuse_is_refused_here_too(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session, reason: str) -> None:
    """The web keeps the CLI's rule for a recorded reason (digest.text.recorded): refused
    with its notice, nothing moved or recorded, not rewritten into something else."""
    client = web[0]
    csrf, issue = gapped_draft(web, session)
    iid = issue.id
    session.rollback()
    before = [e.action for e in lifecycle.history(session, issue)]
    for action, form in (("approve", {"reason": reason}), ("cancel", {"reason": reason}),
                         ("cancel", {"reason": "   "}), ("cancel", {})):
        answer = client.post(f"/editor/issues/{iid}/{action}", data={"csrf": csrf, **form})
        assert answer.headers["location"].endswith("notice=reason-refused"), (action, form)
    page = client.get(answer.headers["location"] + "&lang=en").text
    assert str(MAX_REASON) in page  # the notice states the limit the form and the CLI apply
    assert page.count(f'name="reason" type="text" maxlength="{MAX_REASON}"') == 2
    session.rollback()
    assert [e.action for e in lifecycle.history(session, issue)] == before
    assert issue.state is IssueState.DRAFT
    longest = "x" * MAX_REASON  # the limit itself is kept, trimmed of its spaces
    assert client.post(f"/editor/issues/{iid}/approve", data={
        "csrf": csrf, "reason": f"  {longest} "}).headers["location"].endswith("=approved")
    session.rollback()
    last = lifecycle.history(session, issue)[-1]
    assert last.action == "force_approved" and (last.detail or "").startswith(f"{longest}\n")


def test_link_check_button_shows_results(web: tuple[TestClient, MemoryTransport, Settings],
                                         session: Session) -> None:
    client, _, _ = web
    csrf = login(client)
    iid = issue_id(session)
    before = client.get(f"/editor/issues/{iid}").text
    pending = '<span class="verdict pending">not checked yet'
    assert f"Links to other sites</strong>: {pending}" in before
    done = client.post(f"/editor/issues/{iid}/check-links", data={"csrf": csrf})
    assert done.status_code == 303 and "notice=links-checked" in done.headers["location"]
    page = client.get(done.headers["location"]).text
    checked = page[page.index("Links to other sites"):page.index("</ul>", page.index(
        "Links to other sites"))]
    assert "not checked yet" not in checked
    assert checked.count('<span class="url">http') >= 5  # every distinct link got a result
    assert checked.count("</span>: ") == checked.count('<span class="url">')


def test_subscribe_confirm_and_no_enumeration(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session) -> None:
    client, transport, _ = web
    new = client.post("/subscribe", data={"email": "Newbie@Example.org", "language": "cy"})
    known = client.post("/subscribe", data={"email": "rhys.price@example.org",
                                            "language": "en"})
    assert new.status_code == known.status_code == 200
    strip = [re.sub(r"\s+", " ", r.text) for r in (new, known)]
    assert strip[0] == strip[1]  # the same answer whether or not the address is known
    session.rollback()
    pending = session.exec(select(Subscriber).where(Subscriber.email == "newbie@example.org")
                           ).one()
    assert pending.state is SubscriberState.PENDING
    mail = message_from_bytes(transport.sent[0].data, policy=default)
    assert isinstance(mail, EmailMessage) and mail["To"] == "newbie@example.org"
    body = mail.get_content()
    link = re.search(r"https://digest\.example\.org(/confirm/\S+)", body)
    assert link is not None and "Cadarnhewch" in mail["Subject"]

    assert client.get(altered(link.group(1))).status_code == 400  # altered: refused
    assert client.post(altered(link.group(1))).status_code == 400
    assert client.head(link.group(1)).status_code == 405  # a scanner's HEAD confirms nobody
    session.rollback()
    assert session.exec(select(Subscriber.state).where(Subscriber.id == pending.id)
                        ).one() is SubscriberState.PENDING
    assert client.get(link.group(1)).status_code == 200  # one click
    session.rollback()
    assert session.exec(select(Subscriber.state).where(Subscriber.id == pending.id)
                        ).one() is SubscriberState.ACTIVE
    assert client.get(link.group(1)).status_code == 200  # again: idempotent

    assert client.post("/subscribe", data={"email": "not an address",
                                           "language": "cy"}).status_code == 400


def test_confirmation_links_expire(web: tuple[TestClient, MemoryTransport, Settings],
                                   session: Session) -> None:
    client, transport, settings = web
    client.post("/subscribe", data={"email": "late@example.org", "language": "en"})
    link = re.search(r"(/confirm/\S+)", transport.sent[0].data.decode())
    assert link is not None
    with time_machine.travel(now_utc() + timedelta(hours=settings.confirm_max_age_hours + 1)):
        assert client.get(link.group(1)).status_code == 400
        assert client.post(link.group(1)).status_code == 400
    session.rollback()
    sub = session.exec(select(Subscriber).where(Subscriber.email == "late@example.org")).one()
    assert sub.state is SubscriberState.PENDING


def test_an_old_confirmation_link_does_not_resubscribe_after_an_unsubscribe(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session) -> None:
    client, transport, settings = web
    client.post("/subscribe", data={"email": "gone@example.org", "language": "en"})
    link = re.search(r"(/confirm/\S+)", transport.sent[0].data.decode())
    assert link is not None and client.get(link.group(1)).status_code == 200
    _, _, unsub = subscriber_tokens(session, settings, "gone@example.org")
    with time_machine.travel(now_utc() + timedelta(minutes=5)):
        assert client.post(f"/u/{unsub}", data={"List-Unsubscribe": "One-Click"}
                           ).status_code == 200
    with time_machine.travel(now_utc() + timedelta(minutes=10)):  # the link is still young
        english = {"Accept-Language": "en"}
        for answer in (client.get(link.group(1), headers=english),
                       client.post(link.group(1), headers=english)):
            assert answer.status_code == 400 and "does not work" in answer.text
        session.rollback()
        sub = session.exec(select(Subscriber).where(Subscriber.email == "gone@example.org")
                           ).one()
        assert sub.state is SubscriberState.UNSUBSCRIBED
        client.post("/subscribe", data={"email": "gone@example.org", "language": "en"})
        again = re.search(r"(/confirm/\S+)", transport.sent[-1].data.decode())
        assert again is not None and again.group(1) != link.group(1)
        assert client.get(again.group(1)).status_code == 200  # a new request's own link
    session.rollback()
    assert session.exec(select(Subscriber.state).where(Subscriber.email == "gone@example.org")
                        ).one() is SubscriberState.ACTIVE


def test_signup_is_rate_limited_per_address(web: tuple[TestClient, MemoryTransport, Settings],
                                            ) -> None:
    client, transport, settings = web
    codes = [client.post("/subscribe", data={"email": "spam@example.org",
                                             "language": "en"}).status_code
             for _ in range(settings.signup_limit_per_hour + 1)]
    assert codes == [200] * settings.signup_limit_per_hour + [429]
    assert len(transport.sent) == settings.signup_limit_per_hour
    other = client.post("/subscribe", data={"email": "other@example.org", "language": "en"})
    assert other.status_code == 200


def test_preferences_change_language_unsubscribe_resubscribe(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session) -> None:
    client, _, settings = web
    sid, prefs, _ = subscriber_tokens(session, settings, "rhys.price@example.org")
    page = client.get(f"/p/{prefs}")
    assert page.status_code == 200 and '<html lang="en">' in page.text  # Rhys reads English
    saved = client.post(f"/p/{prefs}", data={"action": "language", "language": "cy"})
    assert saved.status_code == 200 and '<html lang="cy">' in saved.text
    assert "Mae eich dewis iaith wedi'i gadw" in saved.text.replace("&#39;", "'")
    client.post(f"/p/{prefs}", data={"action": "unsubscribe"})
    session.rollback()
    assert session.get(Subscriber, sid).state is SubscriberState.UNSUBSCRIBED  # type: ignore[union-attr]
    client.post(f"/p/{prefs}", data={"action": "resubscribe"})
    session.rollback()
    sub = session.get(Subscriber, sid)
    assert sub is not None and sub.state is SubscriberState.ACTIVE and sub.language is Language.CY


@pytest.mark.parametrize(("state", "says"), [
    (SubscriberState.BOUNCED, "mail to this address could not be delivered"),
    (SubscriberState.PENDING, "the subscription was never confirmed"),
])
def test_subscribe_again_is_offered_and_answered_only_for_an_unsubscribe(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session,
        state: SubscriberState, says: str) -> None:
    # A bounced (or never confirmed) person's preferences page offered "Subscribe again", and
    # its answer said "Welcome back: you will receive the next digest" while nothing changed.
    client, _, settings = web
    sid, prefs, _ = subscriber_tokens(session, settings, "rhys.price@example.org")
    sub = session.get(Subscriber, sid)
    assert sub is not None
    sub.state = state
    session.commit()
    page = client.get(f"/p/{prefs}?lang=en")
    assert page.status_code == 200 and says in page.text
    assert 'value="resubscribe"' not in page.text and 'href="/subscribe?lang=en"' in page.text
    welsh = client.get(f"/p/{prefs}?lang=cy").text
    assert 'href="/subscribe?lang=cy"' in welsh and says not in welsh
    asked = client.post(f"/p/{prefs}?lang=en", data={"action": "resubscribe"})
    assert asked.status_code == 409 and "Not subscribed again" in asked.text
    assert "Welcome back" not in asked.text and says in asked.text
    session.rollback()
    assert session.get(Subscriber, sid).state is state  # type: ignore[union-attr]
    assert "Ni chafodd" in client.post(f"/p/{prefs}?lang=cy",
                                       data={"action": "resubscribe"}).text


def test_one_click_unsubscribe_rfc8058(web: tuple[TestClient, MemoryTransport, Settings],
                                       session: Session) -> None:
    client, _, settings = web
    sid, _, unsub = subscriber_tokens(session, settings, "eleri.thomas@example.org")
    looked = client.get(f"/u/{unsub}")  # a link scanner's GET changes nothing
    assert looked.status_code == 200 and "<form" in looked.text
    session.rollback()
    assert session.get(Subscriber, sid).state is SubscriberState.ACTIVE  # type: ignore[union-attr]
    client.cookies.clear()
    for _ in range(2):  # idempotent
        done = client.post(f"/u/{unsub}", content=b"List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200 and "location" not in done.headers
    session.rollback()
    assert session.get(Subscriber, sid).state is SubscriberState.UNSUBSCRIBED  # type: ignore[union-attr]


@pytest.mark.parametrize("path", ["/u/{bad}", "/p/{bad}", "/confirm/{bad}"])
def test_forged_altered_or_other_purpose_tokens_are_refused(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session, path: str) -> None:
    client, _, settings = web
    sid, prefs, unsub = subscriber_tokens(session, settings, "eleri.thomas@example.org")
    other_purpose = prefs if path.startswith("/u/") else unsub
    for bad in (other_purpose, altered(unsub), f"{sid}.forged", "nonsense"):
        got = client.get(path.format(bad=bad))
        posted = client.post(path.format(bad=bad), data={"action": "unsubscribe"})
        assert got.status_code == 400 and "Does dim wedi newid" in got.text
        assert posted.status_code in (400, 405)
    session.rollback()
    assert session.get(Subscriber, sid).state is SubscriberState.ACTIVE  # type: ignore[union-attr]


def test_archive_shows_sent_issues_without_tokens(
        web: tuple[TestClient, MemoryTransport, Settings], engine: Engine,
        session: Session) -> None:
    client, transport, settings = web
    assert client.get("/archive/2026-09/cy").status_code == 404  # not sent yet
    issue = session.exec(select(Issue)).one()
    lifecycle.approve(session, issue, "test")
    session.commit()
    run.send_issue(engine, settings, issue.id or 0, lambda: transport)
    listing = client.get("/archive")
    assert "/archive/2026-09/cy" in listing.text
    for lang in ("cy", "en", "both"):
        page = client.get(f"/archive/2026-09/{lang}")
        assert page.status_code == 200 and page.text.startswith("<!doctype html>")
        assert "ZZdigest" not in page.text and "/u/" not in page.text and "/p/" not in page.text
    assert client.get("/archive/2026-09/fr").status_code == 404


def test_language_by_toggle_and_accept_language(
        web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, _ = web
    en = client.get("/subscribe", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in en.text and "Subscribe to the monthly digest" in en.text
    cy = client.get("/subscribe", headers={"Accept-Language": "cy-GB,en;q=0.5"})
    assert '<html lang="cy">' in cy.text and "Tanysgrifio i&#39;r crynodeb misol" in cy.text
    default = client.get("/subscribe")
    assert '<html lang="cy">' in default.text
    assert default.text.index(">Cymraeg<") < default.text.index(">English<")  # Welsh first
    toggled = client.get("/subscribe?lang=en", headers={"Accept-Language": "cy"})
    assert '<html lang="en">' in toggled.text and toggled.cookies.get("lang") == "en"
    assert '<html lang="en">' in client.get("/subscribe").text  # the cookie remembers


def test_logout_ends_the_session(web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, _ = web
    csrf = login(client)
    assert client.get("/editor").status_code == 200
    assert client.post("/editor/logout", data={"csrf": "forged"}).status_code == 403
    out = client.post("/editor/logout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == f"{SITE}/editor/login"
    assert client.get("/editor").status_code == 303


def test_every_review_link_in_the_email_opens_the_review_in_that_language(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session) -> None:
    client, _, settings = web
    issue = session.exec(select(Issue)).one()
    site = settings.site_url.rstrip("/")
    for language, variant in service.variants(session, issue).items():
        links = re.findall(rf'href="{re.escape(site)}(/reviews/[^"?]+)\?lang=(cy|en)"',
                           variant.html)
        assert len(links) == 5 * (2 if language is Language.BOTH else 1), language
        for path, lang in links:
            page = client.get(f"{path}?lang={lang}")
            assert page.status_code == 200 and f'<html lang="{lang}">' in page.text


def test_review_page_shows_the_whole_review_in_the_chosen_language(
        web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, _ = web
    cy = client.get("/reviews/adoption-sibling-relationships?lang=cy").text
    assert "<h1>Dylanwad mabwysiadu ar y berthynas rhwng brodyr a chwiorydd" in cy
    assert "<h2>Ar ba gwestiwn y mae'r astudiaeth hon yn canolbwyntio?</h2>" in cy  # Markdown
    assert "Adolygiad gan Dr David Wilkins" in cy and "Sarah Meakings" in cy
    en = client.get("/reviews/adoption-sibling-relationships?lang=en").text
    assert "<h1>The influence of adoption on sibling relationships" in en
    assert "<h2>What question does this study focus on?</h2>" in en
    assert "Reviewed by Dr David Wilkins" in en and "Ar ba gwestiwn" not in en


def test_review_page_shows_its_date_and_the_full_citation(
        web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, _ = web
    cy = client.get("/reviews/service-users-mental-health-social-workers?lang=cy").text
    assert "Cyhoeddwyd 12 Awst 2026" in cy
    # Every one of the twelve authors (the email names three), the year, the journal.
    assert ("Mark Wilberforce, Michele Abendstern, Saqba Batool, Jennifer Boland, David "
            "Challis, John Christian, Jane Hughes, Phil Kinder, Paul Lake-Jones, Manoj Mistry, "
            "Rosa Pitts &amp; Doreen Roberts (2020).") in cy
    assert "British Journal of Social Work, 50(5), pp. 1324-1344." in cy
    en = client.get("/reviews/care-leavers-work-and-resilience?lang=en").text
    assert "Published" in en and "Reviewed by" in en
    assert '<a href="https://doi.org/10.1111/cfs.12822">https://doi.org/10.1111/cfs.12822</a>' in en


def test_signup_form_keeps_what_was_typed_after_an_error(
        web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, transport, _ = web
    empty = client.get("/subscribe?lang=en").text
    assert 'value=""' in empty and 'value="en" checked' in empty
    wrong = client.post("/subscribe?lang=en", data={"email": "siân at example", "name": "Siân",
                                                    "language": "both"})
    assert wrong.status_code == 400 and transport.sent == []
    assert 'id="email-error"' in wrong.text and 'aria-describedby="email-error"' in wrong.text
    assert 'value="siân at example"' in wrong.text and 'value="Siân"' in wrong.text
    assert 'value="both" checked' in wrong.text and 'value="en" checked' not in wrong.text


def test_every_public_page_links_to_itself_in_the_other_language(
        web: tuple[TestClient, MemoryTransport, Settings]) -> None:
    client, _, settings = web
    site = settings.site_url.rstrip("/")
    for path in ("/subscribe", "/archive", "/reviews/adoption-sibling-relationships",
                 "/nowhere"):
        for lang, other in (("cy", "en"), ("en", "cy")):
            html = client.get(f"{path}?lang={lang}").text
            assert f'<link rel="alternate" hreflang="{other}" href="{site}{path}?lang={other}">' \
                in html, path
            visible = f'<a href="{path}?lang={other}" lang="{other}" hreflang="{other}">'
            assert visible in html, path
    page = client.get("/reviews/adoption-sibling-relationships?lang=cy&utm=x").text
    assert 'href="/reviews/adoption-sibling-relationships?utm=x&amp;lang=en"' in page


def test_review_page_falls_back_marks_language_escapes_html_and_hides_the_unpublished(
        web: tuple[TestClient, MemoryTransport, Settings], session: Session) -> None:
    client, _, _ = web
    add_review(session, "english-only", AS_OF - timedelta(days=3), welsh=False)
    row = add_review(session, "scheduled", now_utc() + timedelta(days=2))
    session.commit()
    row.body_en = "<script>alert(1)</script>\n\nA **bold** finding."
    session.add(row)
    english_only = session.exec(select(Review).where(Review.slug == "english-only")).one()
    english_only.body_en = "Only in *English*."  # and no Welsh body
    session.commit()
    page = client.get("/reviews/english-only?lang=cy")
    assert page.status_code == 200 and '<html lang="cy">' in page.text
    assert '<h1><span lang="en">Review english-only</span></h1>' in page.text
    assert '<div class="body" lang="en">\n<p>Only in <em>English</em>.</p>' in page.text
    assert "Darllen yr adolygiad hwn lle cafodd ei gyhoeddi gyntaf" in page.text  # it has a url
    assert client.get("/reviews/scheduled?lang=en").status_code == 404  # not published yet
    missing = client.get("/reviews/no-such-review?lang=cy")
    assert missing.status_code == 404 and '<html lang="cy">' in missing.text
    assert "<h1>Heb ddod o hyd i&#39;r dudalen</h1>" in missing.text  # a page, not JSON
    assert "<h1>Page not found</h1>" in client.get("/nowhere?lang=en").text
    refused = client.post("/reviews/english-only", headers={"Accept-Language": "en"})
    assert refused.status_code == 405 and "<h1>Not allowed</h1>" in refused.text  # a page too
    with time_machine.travel(now_utc() + timedelta(days=3), tick=False):
        shown = client.get("/reviews/scheduled?lang=en").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script>alert" not in shown
    assert "<strong>bold</strong>" in shown
