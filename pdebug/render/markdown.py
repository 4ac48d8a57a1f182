"""Markdown (``-o markdown``): a name from the input shows as written, never as markup.

Its own module, imported only when markdown is asked for: its patterns are compiled as it
is imported, and every command imports :mod:`pdebug.render.text` at start (#17).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from pdebug.render.escape import escape_cell, escape_lines
from pdebug.views.table import Lines, Rendered, Stack, Table

#: The characters that start inline markup where a cell is pasted (GitHub, GitLab, Jira's
#: markdown): code spans, emphasis, strikethrough, links and images, entities, escapes.
#: A cell with none of them is written as it is (the common case, one C-speed test). A
#: ``_`` run inside a word (``ROUND_ROBIN``) can neither open nor close (the second test).
_MD_ANY = re.compile(r"[\\`*_~\[\]&]")
_MD_ACTIVE = re.compile(r"[\\`*~\[\]&]|(?<!\w)_|_++(?!\w)")
_MD_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_MD_RUN = re.compile(r"\*+|_+|~+")
_ASCII_PUNCT = frozenset(r"""!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~""")
#: What GFM's autolink extension links without ``<>``: a URL's scheme before ``://`` (its
#: ``:`` is escaped) and ``www.`` (its ``.`` is escaped); any case, though GitHub's
#: cmark-gfm links only ``www`` in lower case. A backslash before punctuation shows nothing.
_MD_URL = re.compile(r"(?i)(?:https?|ftp)(?=://)|www(?=\.)")
#: An e-mail address GFM would link (``a@b.c``, also after ``mailto:``/``xmpp:``): it is
#: found in the text after escapes and entities are read, so no backslash stops it; such a
#: text is written as a code span. Wider than GFM's rule (a code span is inert anyway),
#: and an ``@name`` too: GitHub would notify the user or team it names.
_MD_EMAIL = re.compile(r"[A-Za-z0-9.+_-]@[A-Za-z0-9._-]*\.|(?<![A-Za-z0-9_])@[A-Za-z0-9]")


def _md_punct(ch: str) -> bool:
    """CommonMark's punctuation: ASCII's, and Unicode's P and S categories."""
    if ch in _ASCII_PUNCT:
        return True
    if ch.isascii():
        return False
    import unicodedata  # here: only markdown with a non-ASCII neighbour needs it

    return unicodedata.category(ch)[0] in "PS"


def _md_delimiters(text: str) -> set[str]:
    """Which of ``*``, ``_``, ``~`` could pair up as emphasis or strikethrough in ``text``.

    CommonMark's flanking rules: a run opens when it is left-flanking (``_`` also not
    inside a word), closes when right-flanking; a character only needs escaping when
    one of its runs could open and a later one close. ``/*``, ``prometheus*``,
    ``ROUND_ROBIN``, ``outbound_.9080_._.x`` pair with nothing and stay as they are.
    """
    opened: set[str] = set()
    live: set[str] = set()
    for m in _MD_RUN.finditer(text):
        ch, i, j = m.group(0)[0], m.start(), m.end()
        if ch in live:
            continue
        before = text[i - 1] if i else " "
        after = text[j] if j < len(text) else " "
        left = not after.isspace() and (
            not _md_punct(after) or before.isspace() or _md_punct(before)
        )
        right = not before.isspace() and (
            not _md_punct(before) or after.isspace() or _md_punct(after)
        )
        if ch == "_":
            left, right = (
                left and (not right or _md_punct(before)),
                right and (not left or _md_punct(after)),
            )
        if right and ch in opened:
            live.add(ch)
        if left:
            opened.add(ch)
    return live


def markdown_inline(
    text: str, context: str | None = None, always: str = "", follows: str = ""
) -> str:
    """``text`` backslash-escaped where markdown would read it as inline markup.

    Backticks always; ``*``, ``_``, ``~`` when two runs could pair (judged over
    ``context``, the whole line, when given); ``[`` and ``]`` when a ``[`` has a later
    ``]`` (a link, an image, a footnote); ``&`` when it starts an entity (``&amp;``); a
    backslash when the next character is punctuation (it would escape it). ``<`` and
    ``|`` are left to the caller (``&lt;``, and a backslash before ``|`` in a table).
    ``always``: more characters to escape wherever they are; ``follows``: what the
    caller writes next (a backslash at the end would escape it).
    """
    if _MD_ANY.search(text) is None or _MD_ACTIVE.search(text) is None:
        return text
    escape = {"`", *always} | _md_delimiters(text if context is None else context)
    opening = text.find("[")
    if opening >= 0 and text.find("]", opening) > 0:
        escape |= {"[", "]"}
    entities = {m.start() for m in _MD_ENTITY.finditer(text)}
    nexts = text[1:] + (follows[:1] or " ")
    out = []
    for i, ch in enumerate(text):
        if (
            ch in escape
            or (ch == "&" and i in entities)
            or (ch == "\\" and nexts[i] in _ASCII_PUNCT)
        ):
            out.append("\\")
        out.append(ch)
    return "".join(out)


def _md_unlinked(markdown: str) -> str:
    """``markdown`` with GFM's bare URLs (``http://``, ``www.``) made plain text.

    A backslash goes before the ``:`` of ``http://`` and the ``.`` of ``www.``: GitHub
    shows the text as written, not a link. Nothing invisible is added.
    """
    if "://" not in markdown and "." not in markdown:
        return markdown
    return _MD_URL.sub(lambda m: m.group(0) + "\\", markdown)


def _md_code(text: str) -> str:
    """``text`` (printable) as a code span: shown as written, never a link or markup."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_part(text: str, context: str | None = None, always: str = "", follows: str = "") -> str:
    """A printable part of a markdown line made inert: escaped, unlinked, ``<`` as ``&lt;``.

    A part holding an e-mail address GFM would link is a code span instead.
    """
    # a "<" from the input would start raw HTML where the markdown is pasted (<img src=...>,
    # <!-- -->, <details>): written as &lt;, it shows as <
    if "@" in text and _MD_EMAIL.search(text):
        return _md_code(text)
    inline = markdown_inline(text, context, always, follows)
    return _md_unlinked(inline).replace("<", "&lt;")


@functools.lru_cache(maxsize=4096)  # a column of few values (LEAST_REQUEST) pays once
def _md_cell(value: str) -> str:
    """One table cell (or a title): printable and inert (:func:`_md_part`)."""
    return _md_part(escape_cell(value))


def _md_title(title: str) -> str:
    """A heading's text: a cell's, and a closing run of ``#`` (``### x #``) kept as text."""
    text = _md_cell(title)
    end = re.search(r"(?:^|(?<=\s))#+\s*$", text)
    return text if end is None else text[: end.start()] + "\\" + text[end.start() :]


def render_markdown(part: Table | Lines | Rendered | Stack) -> str:
    """GitHub-flavoured markdown tables (for pasting into a ticket)."""
    from tabulate import tabulate

    if isinstance(part, Rendered):  # not made for markdown (views render it for text only)
        return _md_fenced(escape_lines(part.text))
    if isinstance(part, Lines):
        return _md_fenced(escape_lines(part.text))
    if isinstance(part, Stack):
        return "\n".join(
            f"### {_md_title(title)}\n\n" + render_markdown(sub) for title, sub in part.parts
        )
    headers, rows = part.visible(True)
    if not part.header:
        return "".join(map(_md_item, rows)) or "\n"
    rows = [tuple(map(_md_cell, row)) for row in rows]
    if not rows:
        return "_" + escape_cell(part.empty_message) + "_\n"
    esc = [[c.replace("|", "\\|") or " " for c in row] for row in rows]
    return tabulate(esc, headers=headers, tablefmt="github", disable_numparse=True) + "\n"


#: One line markdown reads as the words it is ("No secret items to show.").
_MD_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .,:;()/'\"=!?%@+-]*")


def _md_fenced(text: str) -> str:
    """Free text (a trace's verdict, a summary) as a fenced block: names in it stay inert.

    Outside a code block a name from the input would be markup where the markdown is
    pasted (``<img src=...>``, ``[text](url)``) and the lines would run into one
    paragraph; the fence is longer than any run of backticks in the text.
    """
    if not text.strip() or (_MD_PLAIN.fullmatch(text) and _md_part(text) == text):
        return text + "\n"  # one line of words as it was (no link, no markup)
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text.rstrip(chr(10))}\n{fence}\n"


def _md_item(row: Sequence[str]) -> str:
    """A header-less table's row as ``- **label** value``, each part inert.

    Emphasis is judged over the whole line (a ``*`` in one cell pairs with one in the
    next); any ``*`` in the label could pair with the ``**`` around it: all are escaped,
    and every ``~`` (cmark-gfm shows ``**~ a**`` with its asterisks).
    """
    head, rest = escape_cell(row[0]), " ".join(map(escape_cell, row[1:]))
    line = f"{head} {rest}"
    # a "~" next to the "**" keeps GitHub's cmark-gfm from reading them as strong
    label = _md_part(head, line, always="*~", follows="*")
    return f"- **{label}** {_md_part(rest, line)}\n"
