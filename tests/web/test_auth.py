"""Editor accounts: a password or an entry of DIGEST_EDITOR_ACCOUNTS that could never log in is
refused where it is made (`digest editor-password`) and where it is read (the app's start)."""

from __future__ import annotations

import base64

import pytest
from typer.testing import CliRunner

from digest.cli import app as cli_app
from digest.settings import SettingInvalid, Settings
from digest.web.app import create_app
from digest.web.auth import (
    MAX_PASSWORD,
    accounts,
    check_login,
    hash_password,
    hash_problem,
    password_problem,
)

GOOD = hash_password("correct horse")


def with_accounts(settings: Settings, value: str) -> Settings:
    return settings.model_copy(update={"editor_accounts": value})


def test_the_longest_password_the_login_reads_logs_in_and_a_longer_one_is_refused(
        settings: Settings) -> None:
    longest = "ŵ" * MAX_PASSWORD
    ok = with_accounts(settings, f"sian:{hash_password(longest)}")
    assert check_login(ok, "sian", longest)
    assert not check_login(ok, "sian", longest[:-1])
    for bad in ["", "x" * (MAX_PASSWORD + 1), "pass\x00word", "pass\ud800word"]:
        assert password_problem(bad)
        with pytest.raises(ValueError, match="the password"):
            hash_password(bad)


CASES = [
    ("sian", "entry 1 ('sian') has no hash"),
    (f"sian:{GOOD},mair:", "entry 2 ('mair') has no hash"),
    (f"sian:{GOOD},sian:{GOOD}", "entry 2 ('sian') gives a name given before"),
    (f":{GOOD}", "entry 1 ('') the name is empty"),
    (f"si\u202ean:{GOOD}", "the name holds a control or invisible character"),
    (f"{'s' * 201}:{GOOD}", "the name is 201 characters"),
    ("sian:md5$abc", "the hash is not a scrypt"),
    ("sian:" + GOOD.replace("$16384$", "$16383$"), "scrypt costs"),
    ("sian:" + GOOD.replace("$16384$8$", "$1048576$8$"), "scrypt costs"),  # 1 GiB of memory
    ("sian:" + GOOD.replace("$16384$8$1$", "$16384$8$x$"), "scrypt costs"),
    ("sian:" + GOOD[:-6], "not base64"),  # cut short when pasted
    ("sian:" + GOOD.rsplit("$", 1)[0] + "$" + base64.b64encode(b"short").decode(),
     "wrong length"),
]


@pytest.mark.parametrize(("entries", "problem"), CASES,
                         ids=[f"{i}-{problem}" for i, (_, problem) in enumerate(CASES)])
def test_an_account_entry_that_could_never_log_in_names_itself_and_stops_the_app(
        settings: Settings, entries: str, problem: str) -> None:
    bad = with_accounts(settings, entries)
    with pytest.raises(SettingInvalid) as info:
        accounts(bad)
    assert str(info.value).startswith("setting DIGEST_EDITOR_ACCOUNTS: entry ")
    assert problem in str(info.value) and "digest editor-password" in str(info.value)
    with pytest.raises(SettingInvalid):
        create_app(bad)


def test_good_entries_with_spaces_and_blank_entries_are_read(settings: Settings) -> None:
    other = hash_password("another one")
    read = accounts(with_accounts(settings, f" sian : {GOOD} ,, Mair Jones:{other},"))
    assert read == {"sian": GOOD, "Mair Jones": other}
    assert hash_problem(GOOD) is None


def test_editor_password_refuses_what_could_never_log_in_and_prints_nothing(
        settings: Settings) -> None:
    runner = CliRunner()
    long = "x" * (MAX_PASSWORD + 1)
    for name, typed, says in [("a,b", "pw\npw\n", "the name holds a comma or a colon"),
                              ("sian:x", "pw\npw\n", "the name holds a comma or a colon"),
                              (" sian", "pw\npw\n", "starts or ends with a space"),
                              ("sian", f"{long}\n{long}\n", f"is {MAX_PASSWORD + 1} characters")]:
        result = runner.invoke(cli_app, ["editor-password", name], input=typed)
        assert result.exit_code == 1, result.output
        assert says in result.output and "scrypt$" not in result.output
        assert "Traceback" not in result.output
    made = runner.invoke(cli_app, ["editor-password", "Siân Jones"], input="pw ŵ\npw ŵ\n")
    assert made.exit_code == 0, made.output
    entry = made.output.strip().splitlines()[-1]
    assert entry.startswith("Siân Jones:scrypt$")
    assert check_login(with_accounts(settings, entry), "Siân Jones", "pw ŵ")
