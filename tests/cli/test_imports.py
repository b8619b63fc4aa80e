"""What `digest` loads: building the commands, and a send, import only what they need (#17).

Each check runs in a fresh interpreter, so a module some earlier test imported does not
count. A failure names the module; if it is now needed at the top of a `digest/cli` module,
move the import into the command that uses it (see docs/performance.md, start-up floor).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from digest.settings import Settings
from digest.store.db import make_engine, session_scope, upgrade
from tests.conftest import TEST_SECRET_KEY, process_env
from tests.factories import add_sample_content, approved_issue
from tests.smtp_server import SMTPServer

MARK = "MODULES:"
# Print the loaded modules as the process ends, however the command ended (it exits).
_PROBE = f"""
import json, sys
try:
    {{}}
finally:
    print({MARK!r} + json.dumps(sorted(sys.modules)), flush=True)
"""

# Neither building the commands nor a send needs these: the web, the scheduler, bounce
# mailboxes, migrations (a send runs on a migrated database), content files, and the
# tables and progress bars of other commands.
NEVER = ("fastapi", "starlette", "uvicorn", "apscheduler", "feedparser", "imapclient",
         "alembic", "yaml", "premailer", "dkim", "httpx2", "rich.table", "rich.progress",
         "digest.web", "digest.scheduler", "digest.demo", "digest.audience", "digest.bounces",
         "digest.content.files", "digest.content.sync", "digest.content.reading")
# Only the commands that use them load these (a send: the delivery, issue and Babel ones).
NOT_AT_START = ("jinja2", "babel", "mjml", "digest.delivery", "digest.issue", "digest.render",
                "digest.content")


def modules_of(code: str, env: dict[str, str], cwd: Path) -> tuple[list[str], str]:
    """The modules a fresh interpreter has loaded after running `code`, and its output."""
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(code)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    assert lines, f"no module list (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    loaded: list[str] = json.loads(lines[-1][len(MARK):])
    return loaded, proc.stdout + proc.stderr


def loaded_of(modules: list[str], names: tuple[str, ...]) -> list[str]:
    """The modules among `modules` that are one of `names` or inside one of them."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_building_the_commands_loads_no_service(tmp_path: Path) -> None:
    modules, _ = modules_of("import digest.cli", process_env({}), tmp_path)
    assert loaded_of(modules, NEVER + NOT_AT_START) == []
    assert "digest.store.models" in modules  # the floor: option types are store enums


def test_help_loads_no_service(tmp_path: Path) -> None:
    modules, output = modules_of("from digest.cli import main; main(['--help'])",
                                 process_env({}), tmp_path)
    assert "issue" in output
    assert loaded_of(modules, NEVER + NOT_AT_START) == []


def test_a_send_with_nothing_to_do_loads_only_the_send_path(
        settings: Settings, smtp_server: SMTPServer, tmp_path: Path) -> None:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        add_sample_content(session)
        approved_issue(session, settings)  # and no subscribers
    engine.dispose()
    env = process_env({
        "DIGEST_DATABASE_URL": settings.database_url,
        "DIGEST_SECRET_KEY": TEST_SECRET_KEY,
        "DIGEST_VAR_DIR": str(tmp_path / "var"),
        "DIGEST_TRANSPORT": "smtp",
        "DIGEST_SMTP_HOST": smtp_server.host,
        "DIGEST_SMTP_PORT": str(smtp_server.port),
    })
    modules, output = modules_of(
        "from digest.cli import main; main(['issue', 'send', '2026-09'])", env, tmp_path)
    assert "issue 2026-09: 0 new outbox row(s); sent none" in output
    assert "digest.delivery.run" in modules
    assert loaded_of(modules, NEVER) == []
    # The variants are stored: a send renders nothing (Babel stays, for the Welsh dates).
    assert loaded_of(modules, ("jinja2", "mjml", "digest.render.renderer")) == []


def test_the_demo_default_is_the_demos(settings: Settings) -> None:
    from digest import cli, demo

    assert cli.DEMO_AS_OF == demo.DEMO_AS_OF
