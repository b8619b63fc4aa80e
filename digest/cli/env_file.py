"""The `.env` file as the CLI reads it before the settings: the names it sets (for the typo
warning), and one line for a file pydantic-settings can only report with a traceback."""

from __future__ import annotations

import os
from pathlib import Path

from digest.paths import UnusableFile, read_regular
from digest.settings import ENV_FILE


class SettingsFileInvalid(ValueError):
    """The `.env` file cannot be read (as the message, naming it, says)."""


def env_file_variables(path: Path = ENV_FILE) -> dict[str, str]:
    """The variables a `.env` file sets (none without one), for the typo check; raises
    SettingsFileInvalid for a file Settings() cannot read (not UTF-8, unreadable), which
    pydantic-settings reports only as a traceback, and for a `.env` that is there but is no
    regular file (a FIFO, which pydantic-settings would wait on; a folder or a dangling link,
    which it would pass over in silence)."""
    from io import StringIO

    from dotenv import dotenv_values

    if not os.path.lexists(path):
        return {}
    try:
        text = read_regular(path).decode("utf-8")
    except UnusableFile as exc:
        raise SettingsFileInvalid(str(exc)) from None
    except OSError as exc:
        raise SettingsFileInvalid(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsFileInvalid(f"{path}: not valid UTF-8 ({exc.reason} at byte "
                                  f"{exc.start + 1:,}); save it as UTF-8") from None
    return {k: v or "" for k, v in dotenv_values(stream=StringIO(text)).items()}
