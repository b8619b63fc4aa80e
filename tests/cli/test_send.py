"""The ops commands: dry run, test sends, the staging switch, status (SQLite, real SMTP)."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import pytest
from typer.testing import CliRunner

from digest.cli import app
from digest.cli.send import progress_line
from digest.delivery import run
from digest.delivery.transports.base import Outgoing, SendResult
from digest.settings import REPO_ROOT
from tests.conftest import TEST_SECRET_KEY
from tests.smtp_server import SMTPServer, free_port, server_context

runner = CliRunner()


@pytest.fixture
def ops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SMTPServer) -> SMTPServer:
    """A planned demo issue in a fresh SQLite database, and SMTP pointed at the test server."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("DIGEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DIGEST_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("DIGEST_TRANSPORT", "smtp")
    monkeypatch.setenv("DIGEST_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("DIGEST_RETRY_BASE_SECONDS", "3600")
    for args in (["db", "upgrade"], ["content", "sync"], ["subscribers", "import",
                                       str(REPO_ROOT / "subscribers" / "example.csv")],
                 ["issue", "plan", "--as-of", "2026-09-07T09:00"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return smtp_server


def test_dry_run_sends_nothing_and_says_to_whom(ops: SMTPServer) -> None:
    result = runner.invoke(app, ["issue", "send", "2026-09", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "active subscribers: 35 (cy 14, en 13, both 8)" in result.output
    assert "dry run, nothing sent" in result.output and ops.received == []
    status = json.loads(runner.invoke(app, ["issue", "status", "2026-09", "--json"]).output)
    assert status["counts"] == {} and status["state"] == "draft"


def test_test_to_sends_every_variant_and_leaves_the_outbox_alone(ops: SMTPServer) -> None:
    result = runner.invoke(app, ["issue", "send", "2026-09", "--test-to", "editor@example.org"])
    assert result.exit_code == 0, result.output
    assert [r.rcpt for r in ops.received] == ["editor@example.org"] * 3
    subjects = sorted(message_from_bytes(r.data, policy=default)["Subject"]
                      for r in ops.received)
    assert all(s.startswith("[PRAWF / TEST] ") for s in subjects)
    status = json.loads(runner.invoke(app, ["issue", "status", "2026-09", "--json"]).output)
    assert status["counts"] == {}


def approve() -> None:
    result = runner.invoke(app, ["issue", "approve", "2026-09"])
    assert result.exit_code == 0, result.output


def test_redirect_switch_refuses_a_real_send_unless_asked(
        ops: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    approve()
    monkeypatch.setenv("DIGEST_REDIRECT_ALL_TO", "qa@example.org")
    refused = runner.invoke(app, ["issue", "send", "2026-09"])
    assert refused.exit_code == 1 and "DIGEST_REDIRECT_ALL_TO" in refused.output
    assert ops.received == []
    allowed = runner.invoke(app, ["issue", "send", "2026-09", "--allow-redirect"])
    assert allowed.exit_code == 0, allowed.output
    assert {r.rcpt for r in ops.received} == {"qa@example.org"} and len(ops.received) == 35


def test_send_then_status_reports_counts_errors_and_the_resume(ops: SMTPServer) -> None:
    approve()
    ops.behaviour.rcpt_replies["rhys.price@example.org"] = ["550 5.1.1 no such user"]
    ops.behaviour.rcpt_replies["eleri.thomas@example.org"] = ["451 4.7.1 greylisted"]
    sent = runner.invoke(app, ["issue", "send", "2026-09", "--no-wait-retries"])
    assert sent.exit_code == 0, sent.output
    assert ("issue 2026-09: 35 new outbox row(s); sent 8 both, 13 cy, 12 en; 1 temporary "
            "failure, 1 permanent; 1 left\n") in sent.output
    status = json.loads(runner.invoke(app, ["issue", "status", "2026-09", "--json"]).output)
    assert status["state"] == "sending"
    assert status["counts"]["sent"] == {"cy": 13, "en": 12, "both": 8}
    assert status["counts"]["failed"] == {"en": 1} and status["counts"]["retry"] == {"cy": 1}
    errors = {e["email"]: e["error"] for e in status["errors"]}
    assert errors == {"rhys.price@example.org": "550 5.1.1 no such user",
                      "eleri.thomas@example.org": "451 4.7.1 greylisted"}
    assert status["resume"]["send_now"] == 0 and status["resume"]["retry_later"] == 1
    table = runner.invoke(app, ["issue", "status", "2026-09"])
    assert table.exit_code == 0 and "a resume would send 0 now, retry 1 later" in table.output


def test_a_relay_that_cannot_be_reached_exits_75_with_one_line(
        ops: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    approve()
    port = free_port()
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(port))
    result = runner.invoke(app, ["issue", "send", "2026-09", "--no-wait-retries"])
    assert result.exit_code == 75, result.output
    assert result.stderr == (f"error: relay 127.0.0.1:{port} refused the connection; 35 left, "
                             "resume with: digest issue send 2026-09\n")
    status = json.loads(runner.invoke(app, ["issue", "status", "2026-09", "--json"]).output)
    assert status["counts"] == {"pending": {"cy": 14, "en": 13, "both": 8}}
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(ops.port))
    resumed = runner.invoke(app, ["issue", "send", "2026-09"])
    assert resumed.exit_code == 0 and "0 left" in resumed.output


def test_the_send_lines_leave_out_the_counts_that_are_zero(ops: SMTPServer) -> None:
    """They said "failed 0, retrying 0" and "0 temporary failure(s), 0 permanent"."""
    approve()
    sent = runner.invoke(app, ["issue", "send", "2026-09"])
    assert sent.exit_code == 0, sent.output
    progress = [line for line in sent.output.splitlines() if line.startswith("sent ")]
    assert progress and all(re.fullmatch(r"sent \d+/35, [\d,]+ msg/s", line)
                            for line in progress), progress
    assert "issue 2026-09: 35 new outbox row(s); sent 8 both, 14 cy, 13 en; 0 left\n" \
        in sent.output


def test_the_progress_line_shows_failures_and_retries_once_there_are_some() -> None:
    report = run.SendReport("2026-09", sent=Counter(cy=10, en=20), failed=1, retry=2)
    assert progress_line(report, 35, 2.0) == "sent 30/35, 1 failed, 2 retrying, 15 msg/s"
    assert progress_line(run.SendReport("2026-09", retry=1), 35, 0) == \
        "sent 0/35, 1 retrying, 0 msg/s"


def test_an_issue_sent_already_says_so_and_sends_nothing(ops: SMTPServer) -> None:
    approve()
    assert runner.invoke(app, ["issue", "send", "2026-09"]).exit_code == 0
    again = runner.invoke(app, ["issue", "send", "2026-09"])
    assert again.exit_code == 0
    assert again.output == "issue 2026-09 was sent already; nothing to do\n"
    assert len(ops.received) == 35


@pytest.mark.parametrize("address", ["editor", "editor@example.org\r\nBcc: x@evil.test",
                                     "a b@example.org", "editor@", ""])
def test_test_to_refuses_what_is_not_an_address(ops: SMTPServer, address: str) -> None:
    result = runner.invoke(app, ["issue", "send", "2026-09", "--test-to", "ok@example.org",
                                 "--test-to", address])
    assert result.exit_code == 2 and "--test-to" in result.output
    assert "\r\nBcc" not in result.output
    assert ops.received == []


def test_a_transport_that_raises_is_an_internal_error_not_a_stop(
        ops: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in an adapter stopped the run and the command said "stopped; resume with ...",
    exit 130, the answer to a Ctrl-C nobody pressed. It is an internal error (exit 70) that
    names the exception, and the rest stays resumable."""
    from digest.delivery.transports import factory
    from digest.delivery.transports.memory import MemoryTransport

    class Broken(MemoryTransport):
        def send(self, message: Outgoing) -> SendResult:
            raise RuntimeError("adapter bug")

    approve()
    monkeypatch.setattr(factory, "transport_factory", lambda settings: Broken)
    result = runner.invoke(app, ["issue", "send", "2026-09", "--no-wait-retries"])
    assert result.exit_code == 70, result.output
    assert "stopped; resume" not in result.output
    assert result.stderr == ("error: internal error in the transport: RuntimeError: adapter "
                             "bug; the run stopped, 35 left, resume with: digest issue send "
                             "2026-09 (run again with --debug for the traceback)\n")
    debug = runner.invoke(app, ["--debug", "issue", "send", "2026-09", "--no-wait-retries"])
    assert isinstance(debug.exception, RuntimeError) and str(debug.exception) == "adapter bug"


def test_test_to_sends_once_per_address_and_asks_for_one_address_per_option(
        ops: SMTPServer) -> None:
    """The same address given twice (in any case) got every variant twice; a comma-separated
    list was "The part after the @-sign contains invalid characters: ',', '@'"."""
    listed = runner.invoke(app, ["issue", "send", "2026-09", "--test-to",
                                 "a@example.org,b@example.org"])
    assert listed.exit_code == 2 and "one address per --test-to" in listed.output
    assert ops.received == []
    twice = runner.invoke(app, ["issue", "send", "2026-09", "--test-to", "editor@example.org",
                                "--test-to", "Editor@Example.org"])
    assert twice.exit_code == 0, twice.output
    assert [r.rcpt for r in ops.received] == ["editor@example.org"] * 3


def test_allow_redirect_without_a_redirect_is_refused_before_anything_is_sent(
        ops: SMTPServer) -> None:
    """It ran the real send to every subscriber: the option meant to mark a staging run."""
    approve()
    refused = runner.invoke(app, ["issue", "send", "2026-09", "--allow-redirect"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("error: --allow-redirect asks for a staging run, but "
                                     "DIGEST_REDIRECT_ALL_TO is not set")
    assert ops.received == []
    status = json.loads(runner.invoke(app, ["issue", "status", "2026-09", "--json"]).output)
    assert status["state"] == "approved" and status["counts"] == {}


def test_test_to_stops_at_a_relay_it_cannot_reach(
        ops: SMTPServer, monkeypatch: pytest.MonkeyPatch,
        certificate: tuple[Path, Path]) -> None:
    """Plain text to an implicit-TLS port: each of the three tests waited for the greeting
    again, and printed the same error."""
    tls = SMTPServer(ssl_context=server_context(certificate)).start()
    monkeypatch.setenv("DIGEST_SMTP_PORT", str(tls.port))
    monkeypatch.setenv("DIGEST_SMTP_GREETING_TIMEOUT", "0.3")
    try:
        result = runner.invoke(app, ["issue", "send", "2026-09", "--test-to",
                                     "editor@example.org", "--test-to", "other@example.org"])
    finally:
        tls.stop()
    assert result.exit_code == 75
    assert result.stdout == (f"test both -> editor@example.org: relay 127.0.0.1:{tls.port} "
                             "sent no SMTP greeting within 0.3 s but answers TLS: it is an "
                             "implicit-TLS port, set DIGEST_SMTP_SECURITY=tls\n")
    assert result.stderr == "error: not every test was accepted; try again later\n"
