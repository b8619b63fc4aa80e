"""Header fields written by us, not by the stdlib's folder: RFC 2047 encoded words and
RFC 5322 folding.

Python 3.11's header folding loses the space between encoded words at a fold (CPython
gh-144156): "Gŵyl y Dŷ Ŵyn" arrives as "DŷŴyn". Here an unstructured value (Subject) that
needs encoding is encoded whole, as UTF-8 "Q" encoded words, and its own spaces travel
*inside* the words (as `_`), so the folding white space between two words is the only white
space a decoder drops (RFC 2047 6.2).
A display name is a phrase, where Python 3.11's *parser* keeps the white space between two
encoded words (mailparser, like the RFC, drops it): so there the words that need encoding are
encoded in runs, one encoded word per run of neighbouring words, and the words that do not are
left as they are. A word holding `=?` is always encoded: written as it is (or quoted), a
reader would decode `=?utf-8?q?admin?=` as an encoded word and show "admin" (a spoofed name).
Only a run too long for one encoded word (75 characters) gets two adjacent ones, which
Python 3.11 then reads with one space too many.

Invariants: every encoded word is at most 75 characters and holds whole characters (never
part of a UTF-8 sequence); every line is at most 78 characters, except an address or a word
longer than that, which stays whole (and far below RFC 5322's 998: callers cap names and the
settings cap addresses); values hold no CR, LF or other control character.
"""

from __future__ import annotations

import re
import string

from digest.text import one_line

MAX_LINE = 78  # RFC 5322 2.1.1: SHOULD; 998 is the hard limit
MAX_WORD = 75  # RFC 2047 2
MAX_NAME = 200  # characters of a display name we write (an import refuses longer ones)
_OPEN, _CLOSE = "=?utf-8?q?", "?="
# Characters a Q-encoded word may carry as they are in every place, phrases included
# (RFC 2047 5(3)); everything else is =XX, and the space is `_`.
_LITERAL = frozenset(string.ascii_letters + string.digits + "!*+-/")
_Q = {chr(c): (chr(c) if chr(c) in _LITERAL else f"={c:02X}") for c in range(128)} | {" ": "_"}
# An atom-only phrase (RFC 5322 3.2.3 atext, single spaces): a display name written as is.
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+( [A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LONG_ATOM = 60  # longer atoms are encoded: an atom cannot be folded
_QUOTABLE = re.compile(r"[ -~]+")  # printable ASCII: a quoted string
_PLAIN_WORD = re.compile(r"[!-~]{1,76}")


def clean(value: str) -> str:
    """`value` on one line (digest.text.one_line): CR, LF, NUL... become spaces, and
    bidirectional controls and lone surrogates are dropped."""
    return one_line(value)


def _q(ch: str) -> str:
    q = _Q.get(ch)
    if q is None:  # remembered: a name's letters recur (ŵ, ŷ, â...)
        q = _Q[ch] = "".join(f"={b:02X}" for b in ch.encode("utf-8"))
    return q


def encoded_words(text: str, first: int = MAX_WORD) -> list[str]:
    """`text` as Q encoded words: the first at most `first` characters long (it may be empty
    when not even one character fits), the others at most 75."""
    room = min(first, MAX_WORD) - len(_OPEN) - len(_CLOSE)
    whole = "".join(map(_q, text))
    if len(whole) <= room:  # the usual case: one word
        return [_OPEN + whole + _CLOSE]
    words: list[str] = []
    pieces: list[str] = []
    used = 0
    for ch in text:
        piece = _q(ch)
        if used + len(piece) > room:  # with no piece yet, only a short first word's room
            words.append(_OPEN + "".join(pieces) + _CLOSE if pieces else "")
            pieces, used, room = [], 0, MAX_WORD - len(_OPEN) - len(_CLOSE)
        pieces.append(piece)
        used += len(piece)
    if pieces or not words:
        words.append(_OPEN + "".join(pieces) + _CLOSE)
    return words


def _fold(name: str, tokens: list[str]) -> bytes:
    """`Name: tokens` folded before a token wherever the line would pass 78 characters
    (right after the colon too); an empty token starts a new line."""
    lines = [f"{name}:"]
    for token in tokens:
        if not token:
            lines.append("")
            continue
        if lines[-1] and len(lines[-1]) + 1 + len(token) > MAX_LINE:
            lines.append("")
        lines[-1] += " " + token
    return ("\r\n".join(line for line in lines if line) + "\r\n").encode("ascii")


def unstructured(name: str, value: str) -> bytes:
    """An unstructured field such as Subject, encoded only if it needs to be."""
    value = clean(value)
    if not value:
        return f"{name}:\r\n".encode("ascii")
    words = value.split(" ")
    if value.isascii() and "=?" not in value and all(_PLAIN_WORD.fullmatch(w) for w in words):
        return _fold(name, words)  # printable ASCII, single spaces: folds at its spaces
    return _fold(name, encoded_words(value, MAX_LINE - len(name) - 2))


def _plain_atom(word: str) -> bool:
    """Whether `word` may be written as it is: an atom, short enough, not like an encoded word."""
    return len(word) <= _LONG_ATOM and "=?" not in word and bool(_ATOMS.fullmatch(word))


def _phrase(display: str, room: int) -> list[str]:
    """A display name as the tokens of a phrase: atoms, a quoted string, or atoms and runs
    of encoded words (see the module's docstring)."""
    words = display.split(" ")
    if all(map(_plain_atom, words)):
        return words
    # Some readers (Python's parser among them) decode encoded words inside quotes too.
    if _QUOTABLE.fullmatch(display) and "=?" not in display and len(display) + 2 <= room:
        return ['"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"']
    tokens: list[str] = []
    run: list[str] = []
    for word in words:
        if _plain_atom(word):
            if run:
                tokens += encoded_words(" ".join(run))
                run = []
            tokens.append(word)
        else:
            run.append(word)
    if run:
        tokens += encoded_words(" ".join(run))
    return tokens


def mailbox(name: str, display: str, address: str) -> bytes:
    """An address field with one mailbox, `Display <address>` (just the address if no
    display name); the name is cleaned and capped at MAX_NAME characters."""
    if len(display) <= _LONG_ATOM and "=?" not in display and _ATOMS.fullmatch(display):
        # the usual case, quickly
        line = f"{name}: {display} <{address}>"
        if len(line) <= MAX_LINE:
            return (line + "\r\n").encode("ascii")
    display = " ".join(clean(display).split())[:MAX_NAME]
    if not display:
        return _fold(name, [address])
    return _fold(name, [*_phrase(display, MAX_LINE - len(name) - 2), f"<{address}>"])


def lone(name: bytes, value: bytes) -> bytes:
    """`Name: value` for one ASCII token we made (a Message-ID, a link in <>): as
    `structured` folds it, on a line of its own when `Name: value` would pass 78 characters."""
    if len(name) + 2 + len(value) <= MAX_LINE:
        return name + b": " + value + b"\r\n"
    return name + b":\r\n " + value + b"\r\n"


def structured(name: str, value: str) -> bytes:
    """A field whose ASCII value we make ourselves (List-Id, Content-Type...), folded at its
    spaces when long."""
    return _fold(name, clean(value).split(" "))
