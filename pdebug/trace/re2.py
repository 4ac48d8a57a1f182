r"""An RE2 pattern (Envoy's ``safe_regex``, CEL's ``matches``) compiled by Python's ``re``.

The two read most patterns alike; where they do not, a pattern is translated (RE2's
POSIX classes inside brackets, ``[[:digit:]]``, which ``re`` reads as a set of the
characters ``[:dgit`` followed by a literal ``]``) or refused (None: the caller says it
cannot tell), never matched the Python way:

* backreferences, ``\Z``, lookaround, comments, atomic groups, conditionals and
  possessive quantifiers: RE2 rejects them (Envoy refuses the config, or CEL errs);
* ``x{,n}``: a literal to RE2, ``x{0,n}`` to ``re``;
* the flags ``a``, ``L``, ``u``, ``x``: ``re``'s alone (RE2 has ``i``, ``m``, ``s``, ``U``;
  ``re`` refuses ``U``);
* a negated POSIX class (``[[:^alpha:]]``), and anything ``re`` warns of (a nested set).

``\d``, ``\w``, ``\s``, ``\b`` and their negations are RE2's ASCII sets, spelled out
(``\s`` has no ``\v``). ``$`` is the end of the text (Python's ``$`` also matches before
a last newline) unless ``(?m)`` is given first.

Envoy 1.40 matches bytes, Latin-1 (checked on a live Envoy, tests/test_re2bytes.py): the
pattern's UTF-8 bytes are read one byte a character, and so is the value. ``.`` and
``[^a]`` take one byte of ``é`` (``^..$`` matches it, ``^.$`` does not), ``[é]`` is the set
of its two bytes, ``\xe9`` is the byte 0xE9 (not ``é``), and ``(?i)`` folds ASCII letters
only (``(?i)é`` does not match ``É``, ``(?i)k`` not the Kelvin sign). :class:`Re2` does the
same: it compiles the translated pattern's UTF-8 bytes as Latin-1 text and matches the
value's UTF-8 bytes likewise, so every caller (routes, header matchers, RBAC, rewrites)
matches as Envoy does without knowing it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

#: What Python's ``re`` reads otherwise than RE2, or RE2 rejects (see above), after an
#: even number of backslashes (``\\1`` is a backslash and a 1, no backreference).
_NOT_RE2 = re.compile(
    r"(?<!\\)(?:\\\\)*(?:"
    r"\\[1-9Z]|\(\?(?:[=!#>(]|<[=!]|P=)|[*+?}]\+"
    r"|\{,"
    r"|\(\?[imsU-]*[aLux])"
)

#: RE2's POSIX classes (ASCII), as the inside of a Python character class.
_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_CLASS = re.compile(r"\[:(\^?)([a-z]+):\]")


#: RE2's Perl classes (ASCII; ``\s`` has no ``\v``, which ``[[:space:]]`` has), outside
#: a bracket and inside one (None: not expressible inside a Python class).
_PERL = {
    "d": ("[0-9]", "0-9"),
    "D": ("[^0-9]", None),
    "w": ("[0-9A-Za-z_]", "0-9A-Za-z_"),
    "W": ("[^0-9A-Za-z_]", None),
    "s": ("[\\t\\n\\f\\r ]", "\\t\\n\\f\\r "),
    "S": ("[^\\t\\n\\f\\r ]", None),
}
_W = "[0-9A-Za-z_]"
#: RE2's ``\b`` and ``\B`` (ASCII word boundaries) spelled out, and ``\z``.
_EDGES = {
    "b": f"(?:(?<={_W})(?!{_W})|(?<!{_W})(?={_W}))",
    "B": f"(?:(?<={_W})(?={_W})|(?<!{_W})(?!{_W}))",
    "z": "\\Z",  # RE2's end of the text
}
#: Inline flag groups: ``(?ims-U)`` and ``(?i:``.
_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?([:)])")


def _dollar(pattern: str) -> str | None:
    r"""What RE2's ``$`` is in Python; None when it cannot be said.

    ``\Z`` (the end of the text, not before a last newline); ``$`` under ``(?m)`` given
    first for the whole pattern; None when ``m`` is turned on or off elsewhere.
    """
    groups = list(_FLAGS.finditer(pattern))
    with_m = [g for g in groups if "m" in g.group(0)]
    if not with_m:
        return "\\Z"
    first = with_m[0]
    if len(with_m) == 1 and first.start() == 0 and first.group(3) == ")" and "m" in first.group(1):
        return "$"
    return None


def python_pattern(pattern: str) -> str | None:
    """``pattern`` (RE2's syntax) as Python's ``re`` reads it alike; None when it cannot."""
    if _NOT_RE2.search(pattern):
        return None
    dollar = _dollar(pattern) if "$" in pattern else "$"
    out: list[str] = []
    i, inside = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            k = pattern[i + 1 : i + 2]
            if k in _PERL:
                spelled = _PERL[k][1 if inside else 0]
                if spelled is None:
                    return None
                out.append(spelled)
            elif k in _EDGES:
                if inside:
                    return None
                out.append(_EDGES[k])
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if inside:
            m = _CLASS.match(pattern, i)
            if m is not None:
                if m.group(1) or m.group(2) not in _POSIX:
                    return None
                out.append(_POSIX[m.group(2)])
                i = m.end()
                continue
            if c == "]" and not (out and out[-1] in ("[", "[^")):
                inside = False
        elif c == "[":
            inside = True
            if pattern.startswith("[^", i):
                out.append("[^")
                i += 2
                continue
        elif c == "$":
            if dollar is None:
                return None
            out.append(dollar)
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def as_bytes(text: str) -> str:
    """``text``'s UTF-8 bytes, one character a byte (ASCII text is itself).

    A value read from the command line keeps its undecodable bytes (``surrogateescape``);
    a lone surrogate no request can carry is written as UTF-8 would (``surrogatepass``).
    """
    if text.isascii():
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("latin-1")


def from_bytes(text: str) -> str:
    """Undo :func:`as_bytes` (bytes that are not UTF-8 kept as ``surrogateescape``)."""
    if text.isascii():
        return text
    return text.encode("latin-1").decode("utf-8", "surrogateescape")


class Re2Match:
    """A match of :class:`Re2`: its groups as text (see :func:`from_bytes`)."""

    __slots__ = ("_m",)

    def __init__(self, m: re.Match[str]) -> None:
        self._m = m

    def group(self, n: int = 0) -> str | None:
        """Group ``n`` (0: the whole match), None when it took no part."""
        found = self._m.group(n)
        return None if found is None else from_bytes(found)


class Re2:
    """An RE2 pattern that matches a value's bytes as Envoy 1.40 does (see the module).

    ``pattern`` is the Python pattern over bytes (what the regex budget looks at);
    ``groups`` its number of groups.
    """

    __slots__ = ("_rx", "chars", "folds", "groups", "pattern")

    def __init__(self, rx: re.Pattern[str], chars: re.Pattern[str], folds: bool) -> None:
        self._rx = rx
        self.pattern = rx.pattern
        self.groups = rx.groups
        #: The same pattern over characters (as RE2 reads UTF-8, ``(?i)`` aside: RE2
        #: folds Unicode there), and whether it turns ``(?i)`` on anywhere. CEL's
        #: ``matches`` (cel-cpp) may read UTF-8: it answers where both readings agree.
        self.chars = chars
        self.folds = folds

    def fullmatch(self, text: str) -> Re2Match | None:
        """The match of all of ``text``'s bytes, or None."""
        m = self._rx.fullmatch(as_bytes(text))
        return None if m is None else Re2Match(m)

    def search(self, text: str) -> Re2Match | None:
        """The first match within ``text``'s bytes (RE2's partial match), or None."""
        m = self._rx.search(as_bytes(text))
        return None if m is None else Re2Match(m)

    def sub(self, repl: Callable[[Re2Match], str], text: str) -> str:
        """Every match replaced by ``repl``'s text, as bytes are (RE2's ``GlobalReplace``).

        As RE2, not ``re.sub``: an empty match where the last match ended is skipped (one
        byte kept), so ``x*`` over ``xa`` gives ``-a-``, not ``--a-`` (checked on Envoy
        1.40's ``regex_rewrite``, tests/test_review15.py).
        """
        data = as_bytes(text)
        out: list[str] = []
        pos, last_end, count = 0, -1, 0
        while pos <= len(data):
            m = self._rx.search(data, pos)
            if m is None:
                break
            start, end = m.span()
            out.append(data[pos:start])
            if start == end == last_end:
                out.append(data[start : start + 1])
                pos = start + 1
                continue
            out.append(as_bytes(repl(Re2Match(m))))
            pos = last_end = end
            count += 1
        if not count:
            return text
        out.append(data[pos:])
        return from_bytes("".join(out))


def compile_re2(pattern: str) -> Re2 | None:
    """``pattern`` compiled to match as RE2 does, or None (see the module's list)."""
    translated = python_pattern(pattern)
    if translated is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Possible nested set": read otherwise than RE2
        try:
            chars = re.compile(translated, re.ASCII)
            rx = chars if translated.isascii() else re.compile(as_bytes(translated), re.ASCII)
        except (re.error, FutureWarning, DeprecationWarning, RecursionError, OverflowError):
            return None
    return Re2(rx, chars, any("i" in g.group(1) for g in _FLAGS.finditer(pattern)))
