"""Welsh subjects and names survive the trip: every message's Subject, From and To read back
exactly through Python's parser and through Node's mailparser, with no line over 78.

The corpus is realistic (ŵ ŷ â ê î ô û ï, curly apostrophes, dashes, long titles); the control
test shows that the stdlib's own folding damages it, so the round trip can fail.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from digest.delivery import headers
from digest.delivery.messages import MessageTemplate, Recipient
from digest.delivery.notices import send_notice
from digest.delivery.transports.memory import MemoryTransport
from digest.settings import REPO_ROOT, Settings
from digest.store.models import Language
from digest.tokens import Tokens
from tests.conftest import TEST_SECRET_KEY, skip_or_fail

SUBJECTS = [
    "Gŵyl y Dŷ Ŵyn … Crynhoad Ymchwil Gwaith Cymdeithasol: Medi 2026 | Social Work Research "
    "Digest",
    "Crynhoad Ymchwil Gwaith Cymdeithasol: Medi 2026 | Social Work Research Digest: "
    "September 2026",
    "Crynhoad Ymchwil: Gŵyl y Dŷ Ŵyn, Tŷ Hywel, Pwllheli — Seminarau’r Hydref",
    "Llesiant plant mewn gofal maeth yng Nghymru: beth mae’r ymchwil yn ei ddweud wrthym?",
    "Adolygiad: ‘Beth mae defnyddwyr gwasanaeth ei eisiau gan weithwyr cymdeithasol iechyd "
    "meddwl?’",
    "Cyfarfod blynyddol Tŷ Hywel — Pwllheli, Llŷn: dydd Iau 15 Hydref 2026 am 12:00",
    "[PRAWF / TEST] Crynhoad Ymchwil: Medi 2026 | Research Digest: September 2026",
    "Ŵyr ac wyres: perthynas neiniau a theidiau â’u hwyrion ar ôl ysgariad",
    "Gwên, gŵn a glŷn: iaith, hunaniaeth a pherthyn ymhlith pobl ifanc sy’n gadael gofal",
    "Cân yr Ŵyl: lleisiau gofalwyr ifanc o Fôn i Fynwy",
    "Dŵr, tân ac awyr iach: ymyriadau natur ar gyfer lles meddyliol gweithwyr cymdeithasol",
    "Ymchwil newydd: rôl y gweithiwr cymdeithasol mewn tîm amlddisgyblaethol — 2,627 o achosion",
    "Môn Mam Cymru: astudiaeth achos o wasanaethau cymunedol ym Mhen Llŷn a Môn",
    "Ein hûn ni: ymchwil gyda phobl ifanc anabl am annibyniaeth a’u llais yn y gwasanaethau",
    "Naïf neu ddoeth? Polisi, ymarfer a’r bwlch rhwng y ddau yn Neddf Gwasanaethau "
    "Cymdeithasol a Llesiant (Cymru) 2014",
    "Ŷd a ŵyn: bywyd gwledig, tlodi a gwasanaethau plant yng Ngheredigion",
    "Ŵ Ŷ Â Ê Î Ô Û Ï ŵ ŷ â ê î ô û ï",
    "Adolygiad o Dystiolaeth: Effeithiolrwydd Ymyriadau Cynnar i Deuluoedd sy’n Wynebu Tlodi, "
    "Trais Domestig a Chamddefnyddio Sylweddau yng Nghymru, 2015–2025: Crynodeb i Ymarferwyr",
    "Tŷ Hafan: gofal lliniarol i blant, a’r hyn a ddysgwyd gan deuluoedd yn ne Cymru",
    "Rhifyn Hydref: 3 adolygiad newydd · 4 seminar i ddod · 1 eitem newyddion",
    "Social Work Research Digest: September 2026",
    "Pwy sy’n gofalu am y gofalwyr? Gweithdy ar-lein, dydd Mercher 7 Hydref, 10:00–11:30",
    # The stdlib's folding drops a space in each of these four (see the control test).
    "Ŵyn, ŷd a dŵr: gwŷr â’u gwŷs i’r Gŵyl yn Nhŷ’r Cŵn, Llŷn",
    "Tŷ Ŵyn: gŵyl, cân, dŵr a thân â’r ŵyr a’r wyres ym Môn ac yn Llŷn",
    "Seminar: “Gŵyl y Dŷ Ŵyn” — Dr Siân Ŵyn â’r Athro Llŷr Môn ar ôl y ŵyl",
    "Dŵr, tân ac ŵyn: â’r ŵyl ’nôl yn Nhŷ Ŵyn — cyfarfod â’r gŵr gwâdd",
]
NAMES = [
    "Siân Ŵyn ap Dafydd", "Gwenllïan ferch Rhys", "Llŷr Môn-Hughes",
    "Dr. Ffion Prŷs (Prifysgol Bangor)", "Aneirin Tŷ-Gwyn", "Rhiannon O'Brien", "Elen Ŷd",
    "Ioan Gwêl", "Catrin \"Cat\" Ŵen", "Siôn Corn", "Dafydd ap Gwilym", "Eluned Môr-Ŵyn",
    "Gruffudd ab Owain Glyndŵr", "Mererid Hopwood", "Heledd Fychan, AS", "Non Ŵyn-Hâf",
    "Twm Siôn Cati", "Lowri Llŷn", "Jones, Dr. Ann", "Ânjela Ïolo Ôwen",
    "Gwenllïan ferch Rhys ap Dafydd o Dŷ Hywel ym Mhen Llŷn, Gwynedd", "Rhys Price",
]
SENDERS = ["Ymchwil Gwaith Cymdeithasol / Social Work Research",
           "Ymchwil / Research — Caerdydd", "Canolfan Ymchwil Gofal Cymdeithasol Ŵyn a Llŷn"]


@dataclass(frozen=True)
class Variant:
    language: Language
    subject: str
    html: str
    text: str


def build(subject: str, name: str, sender: str) -> bytes:
    settings = Settings(_env_file=None, secret_key=SecretStr(TEST_SECRET_KEY), sender_name=sender,  # type: ignore[call-arg]
                        sender_email="digest@example.org", reply_to="golygyddion@example.org")
    template = MessageTemplate(settings, 9, Variant(Language.BOTH, subject, "<p>Helo</p>",
                                                    "Helo"), Tokens(settings))
    return template.build(Recipient(4, "gwenllian@example.org", name)).data


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str, str, bytes]]:
    cases = [(s, NAMES[i % len(NAMES)], SENDERS[i % len(SENDERS)]) for i, s in
             enumerate(SUBJECTS)] + [(SUBJECTS[i % len(SUBJECTS)], n, SENDERS[0])
                                     for i, n in enumerate(NAMES)]
    return [(s, n, f, build(s, n, f)) for s, n, f in cases]


def test_the_corpus_is_realistic_and_large_enough() -> None:
    assert len(SUBJECTS) >= 20 and len(NAMES) >= 20
    text = "".join(SUBJECTS + NAMES)
    assert set("ŵŷâêîôûï") <= set(text) and max(len(s) for s in SUBJECTS) > 150


def test_pythons_parser_reads_back_every_subject_and_name(
        corpus: list[tuple[str, str, str, bytes]]) -> None:
    for subject, name, sender, data in corpus:
        msg = message_from_bytes(data, policy=default)
        assert msg["Subject"] == subject
        assert msg["To"].addresses[0].display_name == name
        assert msg["To"].addresses[0].addr_spec == "gwenllian@example.org"
        assert msg["From"].addresses[0].display_name == sender
        assert msg["Reply-To"].addresses[0].addr_spec == "golygyddion@example.org"


def mailparser(messages: list[bytes]) -> list[dict[str, Any]]:
    """What Node's mailparser reads from each message (tests/delivery/parse_headers.js)."""
    if shutil.which("node") is None:
        skip_or_fail("Node.js is not installed; the second header parser needs it")
    if not (REPO_ROOT / "node_modules" / "mailparser").exists():
        skip_or_fail("mailparser missing: run `npm ci` in the repo (python3 dev.py test does)")
    script = Path(__file__).with_name("parse_headers.js")
    proc = subprocess.run(["node", str(script)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, check=False, input=json.dumps(
                              [base64.b64encode(m).decode("ascii") for m in messages]))
    assert proc.returncode == 0, proc.stderr
    parsed: list[dict[str, Any]] = json.loads(proc.stdout)
    return parsed


def test_mailparser_reads_back_every_subject_and_name(
        corpus: list[tuple[str, str, str, bytes]]) -> None:
    for (subject, name, sender, _), got in zip(
            corpus, mailparser([data for *_, data in corpus]), strict=True):
        assert got["subject"] == subject
        assert got["to"] == {"name": name, "address": "gwenllian@example.org"}
        assert got["from"] == {"name": sender, "address": "digest@example.org"}
        assert got["replyTo"]["address"] == "golygyddion@example.org"


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_no_header_line_is_over_78(corpus: list[tuple[str, str, str, bytes]]) -> None:
    for *_, data in corpus:
        assert max(len(line) for line in header_lines(data)) <= 78, data[:2000]


HOSTILE = {  # name -> what a reader sees: capped at 200 characters, controls as spaces
    "Ŵ" * 100_000: "Ŵ" * headers.MAX_NAME,
    "W" * 100_000: "W" * headers.MAX_NAME,
    "Eve\r\nBcc: x@evil.test": "Eve Bcc: x@evil.test",
    "Si\x00n\x1b[2J\t\x85": "Si n [2J",
}


def test_a_huge_or_hostile_name_still_makes_short_clean_lines() -> None:
    messages = [build("Medi 2026", name, SENDERS[0]) for name in HOSTILE]
    for data in messages:
        lines = header_lines(data)
        assert max(len(line) for line in lines) <= 78
        assert not [line for line in lines if line.lower().startswith(b"bcc")]
        assert message_from_bytes(data, policy=default)["Bcc"] is None
    for got, shown in zip(mailparser(messages), HOSTILE.values(), strict=True):
        assert got["to"] == {"name": shown, "address": "gwenllian@example.org"}


ODD_SUBJECTS = ["two  spaces", "=?utf-8?q?looks_encoded?= but is not", "😀 emoji and ŵ",
                "x" * 90, "A " * 120 + "B", "tab\tand\nbreak"]


def test_odd_subjects_read_back_through_both_parsers() -> None:
    messages = [build(subject, "Siân", SENDERS[0]) for subject in ODD_SUBJECTS]
    wanted = [s.replace("\t", " ").replace("\n", " ") for s in ODD_SUBJECTS]
    for data, subject in zip(messages, wanted, strict=True):
        assert message_from_bytes(data, policy=default)["Subject"] == subject
        assert max(len(line) for line in header_lines(data)) <= 78
    assert [got["subject"] for got in mailparser(messages)] == wanted


def test_control_the_stdlibs_folding_damages_this_corpus() -> None:
    damaged = []
    for subject in SUBJECTS:
        msg = EmailMessage(policy=SMTP)
        msg["Subject"] = subject
        if message_from_bytes(msg.as_bytes(), policy=default)["Subject"] != subject:
            damaged.append(subject)
    if not damaged:
        pytest.skip("this Python's header folding is fixed (CPython gh-144156)")
    assert len(damaged) >= 4, damaged


def test_notices_use_the_same_headers() -> None:
    settings = Settings(_env_file=None, secret_key=SecretStr(TEST_SECRET_KEY),  # type: ignore[call-arg]
                        sender_name=SENDERS[2],
                        sender_email="digest@example.org")
    transport = MemoryTransport()
    subject = SUBJECTS[-2]  # one the stdlib's folding damages
    assert send_notice(settings, transport, "golygydd@example.org", subject, "Helo, ŵyr.\n",
                       lang="cy")
    data = transport.sent[0].data
    msg = message_from_bytes(data, policy=default)
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"] == subject and msg.get_content().strip() == "Helo, ŵyr."
    assert msg["From"].addresses[0].display_name == SENDERS[2]
    assert max(len(line) for line in header_lines(data)) <= 78
    [got] = mailparser([data])
    assert got["subject"] == subject and got["from"]["name"] == SENDERS[2]
    assert got["to"] == {"name": "", "address": "golygydd@example.org"}


LOOKS_ENCODED = ["=?utf-8?q?admin?=", "=?utf-8?b?YWRtaW4=?=", "Bank =?utf-8?q?Admin?= Team",
                 "Siân =?iso-8859-1?q?caf=E9?=", '"=?utf-8?q?x?="', "a=?b",
                 "=?x?q?" + "y" * 30 + "?=",
                 "=?UTF-8?Q?Gw=C3=AAn?= ap Rhys"]


def test_a_name_that_looks_like_an_encoded_word_reads_back_literally() -> None:
    for name in LOOKS_ENCODED:
        data = build("Medi 2026", name, name)
        msg = message_from_bytes(data, policy=default)
        assert msg["To"].addresses[0].display_name == name
        assert msg["From"].addresses[0].display_name == name
        assert msg["To"].addresses[0].addr_spec == "gwenllian@example.org"
        assert max(len(line) for line in header_lines(data)) <= 78


def test_mailbox_never_writes_an_encoded_word_it_did_not_make() -> None:
    field = headers.mailbox("From", "=?utf-8?q?admin?=", "digest@example.org")
    assert field == b"From: =?utf-8?q?=3D=3Futf-8=3Fq=3Fadmin=3F=3D?= <digest@example.org>\r\n"
    assert headers.mailbox("From", "Siân", "d@example.org").startswith(b"From: =?utf-8?q?Si")
    assert headers.mailbox("To", "Rhys Price", "r@example.org") == \
        b"To: Rhys Price <r@example.org>\r\n"  # plain atoms stay as they are


def test_mailparser_reads_back_a_name_that_looks_encoded_literally() -> None:
    messages = [build("Medi 2026", name, SENDERS[0]) for name in LOOKS_ENCODED]
    for got, name in zip(mailparser(messages), LOOKS_ENCODED, strict=True):
        assert got["to"] == {"name": name, "address": "gwenllian@example.org"}


def personal(subscriber_id: int, **changes: str) -> bytes:
    settings = Settings(_env_file=None, secret_key=SecretStr(TEST_SECRET_KEY)  # type: ignore[call-arg]
                        ).model_copy(update=changes)
    template = MessageTemplate(settings, 9, Variant(Language.CY, "Medi", "<p>Helo</p>", "Helo"),
                               Tokens(settings))
    return template.build(Recipient(subscriber_id, "g@example.org", "Gwen")).data


@pytest.mark.parametrize("subscriber_id", [4, 40_000, 2**31 - 1])
def test_list_unsubscribe_and_message_id_fold_rather_than_pass_78(subscriber_id: int) -> None:
    data = personal(subscriber_id, sender_email="digest@ymchwil-gwaith-cymdeithasol.example.org")
    assert max(len(line) for line in header_lines(data)) <= 78, data[:600]
    msg = message_from_bytes(data, policy=default)
    link = msg["List-Unsubscribe"].strip()  # Python keeps the folding space before a value
    assert link.startswith("<https://digest.example.org/u/") and link.endswith(">")
    assert f".{subscriber_id}@" in msg["Message-ID"]
    token = link[len("<https://digest.example.org/u/"):-1]
    assert token.encode() in data  # folded before the link, never inside it


def test_a_link_too_long_for_any_line_stays_whole_on_a_line_of_its_own() -> None:
    site = "https://digest.example.org/" + "a" * 60
    data = personal(40_000, site_url=site)
    [line] = [x for x in header_lines(data) if site.encode() in x]
    assert line.startswith(b" <" + site.encode() + b"/u/") and line.endswith(b">")
    assert message_from_bytes(data, policy=default)["List-Unsubscribe"].strip().startswith(
        f"<{site}/u/")
    assert headers.lone(b"List-Unsubscribe", b"<x>") == b"List-Unsubscribe: <x>\r\n"
