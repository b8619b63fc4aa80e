"""The characters one-line text may not hold, in one place for every check that refuses them.

A name, a title, an address or a language code is shown on one line: in a `To:` header, a
subject, a terminal, an editor's list. These classes would break or disguise that line:
- control characters (C0, DEL, C1) and the Unicode line and paragraph separators;
- the bidirectional formatting characters (marks, embeddings, overrides, isolates), which
  reorder what is shown without changing what is stored ("Trojan Source", CVE-2021-42574);
- lone surrogates, which are not characters at all: UTF-8 cannot encode them, so a database
  driver or an SMTP library would fail on them later, far from the input that held them
  (JSON and YAML can spell them as `\\ud800`).
NUL is one of the controls, and more: PostgreSQL cannot store it in text at all (JSON can
spell it as `\\u0000`); `unstorable` finds it, and lone surrogates, in parsed JSON.
"""

from __future__ import annotations

import re

CONTROLS = "\x00-\x1f\x7f-\x9f"
SEPARATORS = "\u2028\u2029"
BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
SURROGATES = "\ud800-\udfff"
UNSAFE = re.compile(f"[{CONTROLS}{SEPARATORS}{BIDI}{SURROGATES}]")
# In text of many lines (a content file, a rendered body): the controls but tab and line feed,
# and the line separators, which YAML and Markdown would count as line breaks.
IN_LINES = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{SEPARATORS}]")
_BREAKS = re.compile(f"[{CONTROLS}{SEPARATORS}]")
_HIDDEN = re.compile(f"[{BIDI}{SURROGATES}]")
_SURROGATE = re.compile(f"[{SURROGATES}]")
_UNSTORABLE = re.compile(f"[\x00{SURROGATES}]")
_BIDI = re.compile(f"[{BIDI}]")
_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab"}
MAX_REASON = 500  # a reason kept in a history is a sentence or two on one line, not a document


def describe(char: str) -> str:
    """What kind of unsafe character `char` is, e.g. `a bidirectional control (U+202E)`."""
    code = ord(char)
    if char in _NAMES:
        kind = _NAMES[char]
    elif _SURROGATE.fullmatch(char):
        kind = "a lone surrogate"
    elif char in SEPARATORS:
        kind = "a line separator"
    elif _BIDI.fullmatch(char):
        kind = "a bidirectional control"
    else:
        kind = "a control character"
    return f"{kind} (U+{code:04X})"


def unsafe_character(text: str, *, where: bool = False) -> str | None:
    """`contains <kind> (U+XXXX)` for the first unsafe character of `text` (with `where`,
    `at character N` after it), or None if there is none."""
    found = UNSAFE.search(text)
    if found is None:
        return None
    at = f" at character {found.start() + 1}" if where else ""
    return f"contains {describe(found[0])}{at}"


def recorded(value: str, limit: int) -> str:
    """`value` as a history keeps a name or reason: spaces trimmed, one line of 1..limit
    characters, none of them unsafe; raises ValueError saying what is wrong (not echoing it)."""
    text = value.strip()
    if problem := unsafe_character(text, where=True):
        raise ValueError(problem)
    if not text:
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"is {len(text)} characters; at most {limit}")
    return text


def one_line(text: str) -> str:
    """`text` made safe to show on one line: each control character or line separator becomes
    a space, each bidirectional control or lone surrogate is dropped."""
    return _HIDDEN.sub("", _BREAKS.sub(" ", text))


def unstorable(value: object) -> str | None:
    """The first NUL or lone surrogate in a parsed JSON value's strings (keys too), or None:
    PostgreSQL's text columns refuse NUL, and UTF-8 cannot encode a lone surrogate."""
    pending = [value]  # a stack, not recursion: json.loads accepts deeper nesting than ours
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if found := _UNSTORABLE.search(item):
                return found[0]
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return None
