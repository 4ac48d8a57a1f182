r"""Nothing from the input reaches a terminal raw.

A name, a reason or an error text read from a dump, a bundle or an admin port may carry
terminal control sequences: ESC (colours, cursor moves, OSC 52 writes to the clipboard,
OSC 8 hyperlinks, title changes), CR (overwrites the line), BEL, the C1 controls
(U+0080-U+009F; U+009B is a one-byte CSI), bidi overrides (U+202A-U+202E, U+2066-U+2069:
text that reads differently from what it is) and invisible characters (zero-width spaces,
tags). Every character :meth:`str.isprintable` rejects is shown escaped as Python writes
it in a ``repr`` (``\x1b``, ``\r``, ``\u202e``, ``\U000e0041``), so it is visible and
takes as many columns as it prints: kubectl's ``EscapeTerminal``, applied to every text
pdebug prints. Backslashes are left as they are (route regexes are full of them).

Three places use it: the table renderer escapes every cell (also ``\n`` and ``\t``),
``-o json|yaml`` write the same characters with their own escapes (the data stays exact),
and :class:`SafeStream` wraps stdout and stderr for the whole run, so whatever else is
printed (errors, warnings, notes, progress) goes through :func:`escape_text`, which keeps
only the newlines and tabs of the text's own layout.

The common case costs almost nothing: an ASCII string is checked by one C-speed
``bytes.translate``; only text with something to escape goes through the regexes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TextIO

# Runs of characters outside printable ASCII: candidates only, isprintable() decides.
_CELL_CANDIDATES = re.compile(r"[^\x20-\x7e]+")
_TEXT_CANDIDATES = re.compile(r"[^\x20-\x7e\n\t]+")
_ASCII_PRINTABLE = bytes(range(0x20, 0x7F))
_ASCII_TEXT = _ASCII_PRINTABLE + b"\n\t"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CHUNK = 1 << 20


def _char(ch: str) -> str:
    r"""One character as Python's ``repr`` writes it (``\x1b``, ``\u202e``)."""
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escaped(run: str, char: Callable[[str], str]) -> str:
    """``run`` with each unprintable character written as ``char`` spells it."""
    if run.isprintable():
        return run
    return "".join(ch if ch.isprintable() else char(ch) for ch in run)


def _run(match: re.Match[str]) -> str:
    return _escaped(match.group(0), _char)


def escape_cell(value: str) -> str:
    """``value`` for one table cell or one-line message: nothing unprintable, no newline."""
    if value.isprintable():
        return value
    return _CELL_CANDIDATES.sub(_run, value)


def ascii_clean(text: str, allowed: bytes) -> bool:
    """Whether ASCII ``text`` has only ``allowed`` bytes (1 MB at a time, C speed)."""
    for start in range(0, len(text), _CHUNK):
        chunk = text[start : start + _CHUNK].encode("ascii")
        if chunk.translate(None, allowed):
            return False
    return True


def _chunks(text: str) -> list[str]:
    return [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)] if text else [text]


def text_is_safe(text: str) -> bool:
    """Whether ``text`` prints as it is: printable, newlines and tabs only."""
    if text.isascii():
        return ascii_clean(text, _ASCII_TEXT)
    for chunk in _chunks(text):  # the regex only where there is something not ASCII
        if chunk.isascii():
            if not ascii_clean(chunk, _ASCII_TEXT):
                return False
        elif not all(run.isprintable() for run in _TEXT_CANDIDATES.findall(chunk)):
            return False
    return True


def _substitute(text: str, repl: Any) -> str:
    """``_TEXT_CANDIDATES.sub(repl, text)``, skipping the ASCII stretches of a long text."""
    return "".join(
        chunk
        if chunk.isascii() and "\x7f" not in chunk and ascii_clean(chunk, _ASCII_TEXT)
        else _TEXT_CANDIDATES.sub(repl, chunk)
        for chunk in _chunks(text)
    )


def escape_text(text: str) -> str:
    """``text`` with every unprintable character escaped except its newlines and tabs."""
    if text_is_safe(text):
        return text
    return _substitute(text, _run)


def escape_lines(text: str) -> str:
    """Free text built by pdebug (a summary, a verdict): lines kept, nothing else raw.

    A tab is escaped too: pdebug lays text out with spaces, so a tab came from the input.
    """
    if "\t" not in text and text_is_safe(text):
        return text
    return "\n".join(escape_cell(line) for line in text.split("\n"))


# --- JSON: the same characters as JSON escapes (valid JSON, the same data) ---


def _json_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters past the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _json_run(match: re.Match[str]) -> str:
    return _escaped(match.group(0), _json_char)


def escape_json(text: str) -> str:
    r"""JSON text with every unprintable character written as a ``\uXXXX`` escape.

    orjson already escapes the C0 controls; this adds DEL, the C1 controls, bidi and
    other format characters, which JSON allows raw inside strings. Outside strings a JSON
    text has only ASCII whitespace and punctuation, so the result is the same document.
    """
    if text.isascii() and "\x7f" not in text:
        return text
    return _substitute(text, _json_run)


# --- the streams ---


#: The last text a renderer checked (:func:`escaped`), held here so that ``is`` can only
#: ever match that very object (a str's id is not reused while it is referenced).
_CHECKED: list[str] = [""]


def escaped(text: str) -> str:
    """Mark ``text`` as already what :func:`escape_text` leaves it (the renderer checked it).

    :class:`SafeStream` writes the marked text without checking it a second time (6.8 MB
    for the endpoints table of 53k endpoints). Only the renderers that checked it mark
    it. The mark is the object's identity, not a copy into a str subclass: copying an
    18 MB table cost more than the second check saves.
    """
    _CHECKED[0] = text
    return text


def is_escaped(text: str) -> bool:
    """Whether ``text`` is the text a renderer last marked with :func:`escaped`."""
    return text is _CHECKED[0]


class SafeStream:
    r"""A text stream that escapes what it is given (:func:`escape_text`) and writes it on.

    ``write_control`` writes pdebug's own control sequences (the progress line's
    ``\r\x1b[K``) as they are. Everything else (``isatty``, ``fileno``, ``buffer``,
    ``flush``, ``encoding``) is the wrapped stream's.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        """Write ``text`` escaped (:func:`escape_text`); text marked :func:`escaped` as it is."""
        if type(text) is str and text is not _CHECKED[0] and not text_is_safe(text):
            text = _substitute(text, _run)
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        """Write each line escaped."""
        for line in lines:
            self.write(line)

    def write_control(self, text: str) -> int:
        """Write pdebug's own terminal control sequence, unescaped."""
        return self._stream.write(text)

    @property
    def wrapped(self) -> TextIO:
        """The stream underneath."""
        return self._stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def write_control(stream: Any, text: str) -> None:
    """Write a control sequence of pdebug's own to ``stream`` (wrapped or not)."""
    (stream.write_control if isinstance(stream, SafeStream) else stream.write)(text)
