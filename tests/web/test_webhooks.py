"""POST /webhooks/<provider> over HTTP (TestClient), on both databases: correctly signed,
wrongly signed and replayed requests for each provider, with the providers' own payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx2 import Response
from pydantic import SecretStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from digest.delivery.transports.memory import MemoryTransport
from digest.settings import Settings
from digest.store.models import BounceEvent, Language, Subscriber, SubscriberState
from digest.web import webhooks
from digest.web.app import create_app
from tests.bounces import sns_support as sns
from tests.bounces import test_webhooks_mailgun as mailgun
from tests.bounces import test_webhooks_postmark as postmark
from tests.bounces import test_webhooks_sendgrid as sendgrid

PEOPLE = ("gwen.jones@example.cymru", "rhys@example.net", "dai@example.org",
          "slow@example.org", "blocked@example.net")


class Confirmer:
    """Stands in for the HTTPS GET of an SNS SubscribeURL (a network call)."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.down = False

    def __call__(self, url: str) -> bytes:
        if self.down:
            raise OSError("network unreachable")
        self.urls.append(url)
        return b"<ConfirmSubscriptionResponse/>"


@pytest.fixture
def configured(db_settings: Settings) -> Settings:
    return db_settings.model_copy(update={
        "webhook_ses_topic_arns": sns.TOPIC,
        "webhook_postmark_username": postmark.USER,
        "webhook_postmark_password": SecretStr(postmark.PASSWORD),
        "webhook_mailgun_signing_key": SecretStr(mailgun.KEY),
        "webhook_sendgrid_public_key": sendgrid.verification_key()})


@pytest.fixture
def confirmer() -> Confirmer:
    return Confirmer()


@pytest.fixture
def client(engine: Engine, session: Session, configured: Settings,
           confirmer: Confirmer) -> Iterator[TestClient]:
    for email in PEOPLE:
        session.add(Subscriber(email=email, language=Language.CY, state=SubscriberState.ACTIVE))
    session.commit()
    app = create_app(configured, engine, MemoryTransport)
    webhooks.install(app, configured, fetch_cert=sns.FakeFetcher(), confirm=confirmer,
                     clock=lambda: sns.NOW)
    with TestClient(app, base_url="https://digest.example.org") as test_client:
        yield test_client


def state(session: Session, email: str) -> SubscriberState:
    session.rollback()
    session.expire_all()
    return session.exec(select(Subscriber).where(Subscriber.email == email)).one().state


def recorded(session: Session) -> int:
    session.rollback()
    return len(session.exec(select(BounceEvent)).all())


def ok(response: Response, new: int, repeated: int = 0) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": new, "repeated": repeated}
    assert "set-cookie" not in response.headers


def test_ses_signed_bounce_and_complaint(client: TestClient, session: Session) -> None:
    body = json.dumps(sns.notification()).encode()
    ok(client.post("/webhooks/ses", content=body), 2)  # one bounce for two recipients
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.BOUNCED
    assert state(session, "dai@example.org") is SubscriberState.BOUNCED
    ok(client.post("/webhooks/ses", content=body), 0, 2)  # SNS retries: recorded once
    complaint = sns.notification("ses_complaint.json", MessageId="another-id")
    ok(client.post("/webhooks/ses", content=json.dumps(complaint).encode()), 1)
    assert state(session, "rhys@example.net") is SubscriberState.UNSUBSCRIBED
    assert recorded(session) == 3


def test_ses_wrongly_signed_or_stale_changes_nothing(client: TestClient,
                                                     session: Session) -> None:
    forged = sns.sign({**sns.notification(), "Signature": ""}, key=sns.OTHER_KEY)
    assert client.post("/webhooks/ses", content=json.dumps(forged).encode()).status_code == 401
    stale = sns.notification(Timestamp="2026-03-01T10:00:00.000Z")
    refused = client.post("/webhooks/ses", content=json.dumps(stale).encode())
    assert (refused.status_code, refused.json()) == (403, {"error": "stale timestamp"})
    assert recorded(session) == 0
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.ACTIVE


def test_ses_subscription_is_confirmed_through_the_fetcher(
        client: TestClient, confirmer: Confirmer, session: Session) -> None:
    body = json.dumps(sns.confirmation()).encode()
    confirmer.down = True
    assert client.post("/webhooks/ses", content=body).status_code == 503  # SNS sends again
    confirmer.down = False
    answer = client.post("/webhooks/ses", content=body)
    assert (answer.status_code, answer.json()) == (200, {"confirmed": True})
    assert confirmer.urls == [sns.confirmation()["SubscribeURL"]]
    assert recorded(session) == 0


def test_postmark_credentials(client: TestClient, session: Session) -> None:
    body = postmark.fixture("postmark_bounce.json")
    wrong = client.post("/webhooks/postmark", content=body,
                        headers={"Authorization": postmark.basic(password="guess")})
    assert wrong.status_code == 401 and recorded(session) == 0
    assert client.post("/webhooks/postmark", content=body).status_code == 401  # none at all
    right = {"Authorization": postmark.basic()}
    ok(client.post("/webhooks/postmark", content=body, headers=right), 1)
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.BOUNCED
    ok(client.post("/webhooks/postmark", content=body, headers=right), 0, 1)  # replayed
    spam = postmark.fixture("postmark_spam_complaint.json")
    ok(client.post("/webhooks/postmark", content=spam, headers=right), 1)
    assert state(session, "rhys@example.net") is SubscriberState.UNSUBSCRIBED


def test_mailgun_signature_and_nonce(client: TestClient, session: Session) -> None:
    body = mailgun.payload()
    wrong = client.post("/webhooks/mailgun", content=mailgun.payload(key="key-not-ours"))
    assert wrong.status_code == 401 and recorded(session) == 0
    ok(client.post("/webhooks/mailgun", content=body), 1)
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.BOUNCED
    # The signature does not cover the event: its token may be used once only.
    forged = json.loads(body)
    forged["event-data"] = mailgun.event("mailgun_complained.json")
    replayed = client.post("/webhooks/mailgun", content=json.dumps(forged).encode())
    assert (replayed.status_code, replayed.json()) == (403, {"error": "replayed"})
    assert state(session, "rhys@example.net") is SubscriberState.ACTIVE
    assert client.post("/webhooks/mailgun", content=body).status_code == 403
    stale = mailgun.payload(timestamp=int(sns.NOW.timestamp()) - 600, token="c" * 50)
    assert client.post("/webhooks/mailgun", content=stale).status_code == 403
    # A new signature on the same event (a retry Mailgun signed again) records nothing new.
    ok(client.post("/webhooks/mailgun", content=mailgun.payload(token="d" * 50)), 0, 1)
    assert recorded(session) == 1


def test_sendgrid_signed_batch(client: TestClient, session: Session) -> None:
    body = sendgrid.events()
    wrong = client.post("/webhooks/sendgrid", content=body,
                        headers=sendgrid.signed(body, key=sendgrid.OTHER_KEY))
    assert wrong.status_code == 401 and recorded(session) == 0
    tampered = body.replace(b"rhys@example.net", b"gwen.jones@example.cymru")
    assert client.post("/webhooks/sendgrid", content=tampered,
                       headers=sendgrid.signed(body)).status_code == 401
    ok(client.post("/webhooks/sendgrid", content=body, headers=sendgrid.signed(body)), 5)
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.BOUNCED
    assert state(session, "dai@example.org") is SubscriberState.BOUNCED
    assert state(session, "rhys@example.net") is SubscriberState.UNSUBSCRIBED
    assert state(session, "slow@example.org") is SubscriberState.ACTIVE  # one deferral
    ok(client.post("/webhooks/sendgrid", content=body, headers=sendgrid.signed(body)), 0, 5)


def test_too_large_unconfigured_and_unknown(client: TestClient, db_settings: Settings,
                                            engine: Engine) -> None:
    huge = b"[" + b" " * (1024 * 1024) + b"]"
    assert client.post("/webhooks/sendgrid", content=huge,
                       headers=sendgrid.signed(huge)).status_code == 413
    assert client.post("/webhooks/sparkpost", content=b"{}").status_code == 404
    with TestClient(create_app(db_settings, engine, MemoryTransport),
                    base_url="https://digest.example.org") as bare:
        for name in ("ses", "postmark", "mailgun", "sendgrid"):
            assert bare.post(f"/webhooks/{name}", content=b"{}").status_code == 404


def test_a_database_failure_is_a_503_and_the_retry_is_accepted(
        client: TestClient, engine: Engine, session: Session) -> None:
    session.rollback()
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE bounce_event RENAME TO bounce_event_away"))
    try:
        failed = client.post("/webhooks/mailgun", content=mailgun.payload())
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE bounce_event_away RENAME TO bounce_event"))
    assert (failed.status_code, failed.json()) == (503, {"error": "not recorded, try again"})
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.ACTIVE
    # Nothing was kept, the nonce included: Mailgun's retry goes through.
    ok(client.post("/webhooks/mailgun", content=mailgun.payload()), 1)
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.BOUNCED


@pytest.mark.parametrize(("lone", "named"), [("\ud800", "surrogate"), ("\x00", "NUL")])
def test_a_lone_surrogate_or_a_nul_anywhere_is_a_400_for_every_provider(
        client: TestClient, session: Session, lone: str, named: str) -> None:
    # JSON may spell either (`\ud800`, `\u0000`); neither is text a record can keep: the
    # signature's bytes and the log line cannot encode a lone surrogate, and PostgreSQL's text
    # columns refuse NUL (that was a 503, which the provider retries for ever). Each body is
    # otherwise what the provider would accept.
    gmail = mailgun.event(id=lone)
    nested = {**mailgun.event(), "delivery-status": {"message": f"550 5.1.1 {lone}", "code": 550}}
    sendgrid_body = sendgrid.events({"email": "dai@example.org", "event": "bounce",
                                     "sg_event_id": lone, "timestamp": 1772366282,
                                     "type": "bounce"})
    sendgrid_key = sendgrid.events({"email": "dai@example.org", "event": "bounce",
                                    "sg_event_id": "k", "timestamp": 1772366282,
                                    "type": "bounce", f"x{lone}": "1"})
    ses_body = json.dumps({**sns.notification(), "Subject": f"x{lone}"}).encode()
    message = json.loads(sns.notification()["Message"])
    message["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = f"smtp; 550 {lone}"
    ses_inner = json.dumps(sns.notification(Message=json.dumps(message))).encode()
    answers = {
        "mailgun token": client.post("/webhooks/mailgun", content=json.dumps({
            "signature": {"timestamp": "1", "token": lone, "signature": "00"},
            "event-data": {}}).encode()),
        "mailgun event id": client.post("/webhooks/mailgun", content=mailgun.payload(gmail)),
        "mailgun nested": client.post("/webhooks/mailgun", content=mailgun.payload(nested)),
        "postmark id": client.post("/webhooks/postmark", content=postmark.fixture(
            "postmark_bounce.json", ID=lone), headers={"Authorization": postmark.basic()}),
        "postmark key": client.post("/webhooks/postmark", content=json.dumps(
            {**json.loads(postmark.fixture("postmark_bounce.json")), lone: 1}).encode(),
            headers={"Authorization": postmark.basic()}),
        "postmark details": client.post("/webhooks/postmark", content=postmark.fixture(
            "postmark_bounce.json", Details=f"smtp;550 5.1.1 {lone}"),
            headers={"Authorization": postmark.basic()}),
        "sendgrid": client.post("/webhooks/sendgrid", content=sendgrid_body,
                                headers=sendgrid.signed(sendgrid_body)),
        "sendgrid key": client.post("/webhooks/sendgrid", content=sendgrid_key,
                                    headers=sendgrid.signed(sendgrid_key)),
        "ses": client.post("/webhooks/ses", content=ses_body),
        "ses message": client.post("/webhooks/ses", content=ses_inner),
    }
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400)
    assert all(named in r.json()["error"] for r in answers.values())
    assert recorded(session) == 0
    assert state(session, "gwen.jones@example.cymru") is SubscriberState.ACTIVE


def test_an_event_id_longer_than_its_column_is_recorded_once(client: TestClient,
                                                             session: Session) -> None:
    # Postmark's ID is the provider's; one longer than the 200-character column was stored
    # cut short but looked up whole, so each retry answered 503 for ever.
    right = {"Authorization": postmark.basic()}
    long_ids = ["b" * 300, "b" * 300 + "c"]  # the same first 200 characters
    for long_id in long_ids:
        body = postmark.fixture("postmark_bounce.json", ID=long_id)
        ok(client.post("/webhooks/postmark", content=body, headers=right), 1)
        ok(client.post("/webhooks/postmark", content=body, headers=right), 0, 1)
    session.rollback()
    stored = session.exec(select(BounceEvent.event_id)).all()
    assert len(stored) == len(set(stored)) == 2 and all(len(e) <= 200 for e in stored)


ABSURD_ISO = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z",
              "9999-12-31T23:59:59Z", "2200-01-01T00:00:00Z"]
ABSURD_UNIX: list[object] = [10**400, -(10**400), 1e20, -1e20, float("nan"), float("inf"),
                             float("-inf"), "1e20", "-1e20", "nan", -1e11, 1e11]


def occurred(session: Session) -> list[object]:
    session.rollback()
    return list(session.exec(select(BounceEvent.occurred_at)).all())


@pytest.mark.parametrize("when", ABSURD_ISO)
def test_ses_times_past_the_calendar_are_a_400_or_left_out(client: TestClient, session: Session,
                                                         when: str) -> None:
    # The signed SNS Timestamp is read before the signature is checked: it was a 500 there.
    stale = client.post("/webhooks/ses", content=json.dumps(sns.notification(
        Timestamp=when)).encode())
    assert (stale.status_code, stale.json()) == (400, {"error": "bad SNS timestamp"})
    message = json.loads(sns.notification()["Message"])
    message["bounce"]["timestamp"] = when
    body = json.dumps(sns.notification(Message=json.dumps(message))).encode()
    ok(client.post("/webhooks/ses", content=body), 2)
    assert occurred(session) == [None, None]


@pytest.mark.parametrize("when", ABSURD_ISO)
def test_postmark_bounced_at_past_the_calendar_is_left_out(client: TestClient, session: Session,
                                                          when: str) -> None:
    body = postmark.fixture("postmark_bounce.json", BouncedAt=when)
    ok(client.post("/webhooks/postmark", content=body,
                   headers={"Authorization": postmark.basic()}), 1)
    assert occurred(session) == [None]


@pytest.mark.parametrize("when", ABSURD_UNIX)
def test_mailgun_and_sendgrid_absurd_event_times_are_left_out(client: TestClient,
                                                              session: Session,
                                                              when: object) -> None:
    # json.dumps writes NaN and Infinity, which json.loads (and so parse_json) accepts.
    ok(client.post("/webhooks/mailgun", content=mailgun.payload(mailgun.event(
        timestamp=when))), 1)
    body = sendgrid.events({"email": "dai@example.org", "event": "bounce", "type": "bounce",
                            "sg_event_id": "absurd", "timestamp": when})
    ok(client.post("/webhooks/sendgrid", content=body, headers=sendgrid.signed(body)), 1)
    assert occurred(session) == [None, None]


@pytest.mark.parametrize("stamp", ["9" * 30, "99999999999", "0"])
def test_absurd_signature_timestamps_are_refused_not_a_500(client: TestClient,
                                                           stamp: str) -> None:
    mailgun_body = json.loads(mailgun.payload())
    mailgun_body["signature"] = {**mailgun_body["signature"], "timestamp": stamp}
    answer = client.post("/webhooks/mailgun", content=json.dumps(mailgun_body).encode())
    assert answer.status_code == 401  # the HMAC covers the timestamp: changed, it fails
    signed = mailgun.payload(timestamp=int(stamp), token="e" * 50)
    assert client.post("/webhooks/mailgun", content=signed).status_code in (401, 403)
    body = sendgrid.events()
    headers = sendgrid.signed(body, timestamp=int(stamp))
    assert client.post("/webhooks/sendgrid", content=body, headers=headers).status_code in (
        401, 403)


def test_credentials_and_signatures_outside_base64_s_alphabet_are_a_401_not_a_500(
        client: TestClient, session: Session) -> None:
    """Basic credentials, a SendGrid signature header or an SNS Signature holding a non-ASCII
    character: `b64decode` raised ValueError (not binascii.Error), an unhandled 500."""
    body = sendgrid.events()
    sendgrid_headers = {**sendgrid.signed(body),
                        "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ\u00e9=="}
    ses_body = json.dumps({**sns.notification(), "Signature": "\u00e9" * 8}).encode()
    answers = {
        "postmark": client.post("/webhooks/postmark", content=postmark.fixture(
            "postmark_bounce.json"), headers={b"Authorization": "Basic \u00e9\u00e9\u00e9\u00e9"
                                              .encode("latin-1")}),
        "sendgrid": client.post("/webhooks/sendgrid", content=body, headers={
            k.encode(): v.encode("latin-1") for k, v in sendgrid_headers.items()}),
        "ses": client.post("/webhooks/ses", content=ses_body),
    }
    assert {k: (r.status_code, r.json()) for k, r in answers.items()} == {
        "postmark": (401, {"error": "bad credentials"}),
        "sendgrid": (401, {"error": "bad signature"}), "ses": (401, {"error": "bad signature"})}
    assert recorded(session) == 0


def test_a_signed_timestamp_in_other_digits_is_a_401(client: TestClient,
                                                     session: Session) -> None:
    """`str.isdigit` is true of Arabic-Indic digits and `float` reads them: a signed time
    spelt so was taken as a Unix time."""
    arabic = "".join(chr(0x0660 + int(d)) for d in str(int(sns.NOW.timestamp()) - 30))
    block = mailgun.signature()
    digest = hmac.new(mailgun.KEY.encode(), f"{arabic}{block['token']}".encode(),
                      hashlib.sha256).hexdigest()
    body = json.dumps({"signature": {**block, "timestamp": arabic, "signature": digest},
                       "event-data": mailgun.event()}).encode()
    answer = client.post("/webhooks/mailgun", content=body)
    assert (answer.status_code, answer.json()) == (401, {"error": "bad signature timestamp"})
    assert recorded(session) == 0


def test_a_key_named_twice_in_one_object_is_a_400_for_every_provider(
        client: TestClient, session: Session) -> None:
    """`{"event": "delivered", "event": "bounce"}`: Python kept the last value, another
    parser (or the provider's own) the first. An ambiguous body is refused, recording nothing."""
    twice = (b'[{"event": "delivered", "event": "bounce", "type": "bounce", '
             b'"email": "rhys@example.net", "email": "dai@example.org", "sg_event_id": "t"}]')
    pm = postmark.fixture("postmark_bounce.json").replace(
        b'"Email"', b'"Email": "rhys@example.net", "Email"', 1)
    mg = mailgun.payload().replace(b'"event-data": {', b'"event-data": {"event": "opened", ', 1)
    inner = sns.notification()["Message"].replace('"bounce"', '"bounce": {}, "bounce"', 1)
    answers = {
        "sendgrid": client.post("/webhooks/sendgrid", content=twice,
                                headers=sendgrid.signed(twice)),
        "postmark": client.post("/webhooks/postmark", content=pm,
                                headers={"Authorization": postmark.basic()}),
        "mailgun": client.post("/webhooks/mailgun", content=mg),
        "ses message": client.post("/webhooks/ses", content=json.dumps(
            sns.notification(Message=inner)).encode()),
    }
    assert {k: r.status_code for k, r in answers.items()} == dict.fromkeys(answers, 400)
    assert all(r.json() == {"error": "body names a key twice in one object"}
               for r in answers.values())
    assert recorded(session) == 0
    assert state(session, "dai@example.org") is SubscriberState.ACTIVE
