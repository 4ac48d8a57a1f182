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

``\d``, ``\w``, ``\s`` and ``\b`` are ASCII in RE2: patterns compile with ``re.ASCII``.
"""

from __future__ import annotations

import re
import warnings

#: What Python's ``re`` reads otherwise than RE2, or RE2 rejects (see above).
_NOT_RE2 = re.compile(
    r"\\[1-9Zz]|\(\?(?:[=!#>(]|<[=!]|P=)|[*+?}]\+"
    r"|(?<!\\)\{,"
    r"|\(\?[imsU-]*[aLux]"
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


def python_pattern(pattern: str) -> str | None:
    """``pattern`` (RE2's syntax) as Python's ``re`` reads it alike; None when it cannot."""
    if _NOT_RE2.search(pattern):
        return None
    if "[:" not in pattern:
        return pattern
    out: list[str] = []
    i, inside = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
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
        out.append(c)
        i += 1
    return "".join(out)


def compile_re2(pattern: str) -> re.Pattern[str] | None:
    """``pattern`` compiled to match as RE2 does, or None (see the module's list)."""
    translated = python_pattern(pattern)
    if translated is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Possible nested set": read otherwise than RE2
        try:
            return re.compile(translated, re.ASCII)
        except (re.error, FutureWarning, DeprecationWarning, RecursionError, OverflowError):
            return None
