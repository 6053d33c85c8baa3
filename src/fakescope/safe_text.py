"""Untrusted text (file names above all) made safe for each place it is shown or written.

A file name is data chosen by whoever made the file: it can hold Markdown (``![i](https://...)``
fetches an image when a page renders it), a spreadsheet formula (``=HYPERLINK(...)``), terminal
escapes (``\\x1b[2J``, a carriage return that overwrites the line, bidi overrides that reverse it),
or bytes that are not UTF-8 (``os.fsdecode`` turns them into lone surrogates, which no UTF-8
writer accepts). Each helper here makes text safe for one destination:

* :func:`encodable`: any UTF-8 writer (a database, a file, a pipe) accepts it;
* :func:`printable`: also safe on a terminal and on one line (the safe form of a name that the
  prediction log stores and the CLI prints);
* :func:`markdown_text`: shown as itself by Streamlit's Markdown (``st.markdown``, ``st.error``,
  captions and labels);
* :func:`csv_cell`: a spreadsheet opens it as text, never as a formula (OWASP's CSV-injection rule).

Every helper returns ordinary text unchanged, so ``photo.jpg`` stays ``photo.jpg`` everywhere.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# Lone surrogates U+DC80..U+DCFF are how surrogateescape (os.fsdecode on Linux) keeps the bytes
# 0x80..0xFF of a name that is not UTF-8.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)
_SURROGATES = range(0xD800, 0xE000)
# Format characters that reorder or hide text on a terminal or a page (Trojan Source,
# CVE-2021-42574): bidi embeddings/overrides/isolates and marks, plus the line and paragraph
# separators that end a line in some viewers.
_INVISIBLE = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# OWASP CSV injection: a cell starting with one of these is read as a formula by Excel,
# LibreOffice or Google Sheets (= + - @, TAB and CR per OWASP; LF and NUL also start one in
# some of them, and cost nothing to add).
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
# Characters with a meaning in Streamlit's Markdown: CommonMark and GFM syntax, plus Streamlit's
# own ``:color[...]`` directives, ``:material/icon:`` and ``$math$``. Every one of them may be
# backslash-escaped (CommonMark escapes any ASCII punctuation), which renders it literally.
_MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#+-!|~$:&@")
_LIST_START_RE = re.compile(r"^(\d+)([.)])")
_WWW_RE = re.compile(r"(www)\.", re.IGNORECASE)


def _escape_char(char: str) -> str:
    code = ord(char)
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"  # the byte itself, as os.fsencode would give it back
    if code <= 0xFF:
        return {"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(char, f"\\x{code:02x}")
    return f"\\u{code:04x}"


def encodable(text: Any) -> str:
    """``text`` with lone surrogates written as backslash escapes, so UTF-8 can encode it.

    A name that was not UTF-8 keeps its bytes visible: ``b"caf\\xe9.jpg"`` decoded by
    ``os.fsdecode`` becomes ``caf\\xe9.jpg`` (a backslash, ``x``, ``e9``). Anything else is
    returned unchanged. Non-strings are converted with ``str`` first.
    """
    text = text if isinstance(text, str) else str(text)
    if not _SURROGATE_RE.search(text):
        return text
    return _SURROGATE_RE.sub(lambda m: _escape_char(m.group()), text)


def _is_unsafe(char: str) -> bool:
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F or code in _SURROGATES:
        return True
    return char in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cs")


def printable(text: Any) -> str:
    """``text`` on one line with nothing a terminal would act on: the safe form of a name.

    Control characters (C0, DEL, C1), bidi overrides and line separators become visible
    backslash escapes, so an ANSI sequence shows as ``\\x1b[2J`` and does nothing, a carriage
    return as ``\\r``, a right-to-left override as ``\\u202e``; lone surrogates
    become the bytes they stand for (see :func:`encodable`). Printable text, accented and
    non-Latin letters included, is unchanged.
    """
    text = text if isinstance(text, str) else str(text)
    if not any(_is_unsafe(char) for char in text):
        return text
    return "".join(_escape_char(char) if _is_unsafe(char) else char for char in text)


def markdown_text(text: Any) -> str:
    """``text`` as Markdown source that Streamlit renders as exactly that text, on one line.

    Use it for every untrusted value put into ``st.markdown``, ``st.caption``, ``st.error`` /
    ``st.warning`` / ``st.info``, widget labels and image captions: ``![i](https://x/y.png)``
    then shows as those characters instead of fetching an image.
    """
    safe = printable(text)
    escaped = "".join("\\" + char if char in _MARKDOWN_SPECIAL else char for char in safe)
    # "1. name" would start an ordered list, and "www.host" would become a link.
    escaped = _LIST_START_RE.sub(r"\1\\\2", escaped)
    return _WWW_RE.sub(r"\1\\.", escaped)


def csv_cell(value: Any) -> Any:
    """One CSV cell that a spreadsheet shows as text (OWASP CSV injection prevention).

    Text is made printable (:func:`printable`) and, when it starts with a character that makes
    a spreadsheet read a formula (:data:`CSV_FORMULA_STARTS`), prefixed with a single quote, which
    spreadsheets take as "this is text". Numbers, booleans and None are returned unchanged, so
    ``-0.5`` stays a number. Quoting of commas and quotes is left to the ``csv`` module.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(CSV_FORMULA_STARTS):
        # Decided on the raw text: a leading TAB or CR is escaped by printable() below, but
        # the quote still marks the cell as text for spreadsheets that trim escapes.
        return "'" + printable(value)
    return printable(value)


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    """Every cell of one CSV row passed through :func:`csv_cell`."""
    return {key: csv_cell(value) for key, value in row.items()}


# An absolute POSIX path (two or more parts), or a file: URL; what stands before it must not be a
# word character, ':' or '/' (so "http://host/a/b" and relative paths are left alone).
_PATH_PART = r"[^\s/'\"`,;:()<>\[\]]"
_SERVER_PATH_RE = re.compile(rf"(?<![\w:/.~-])(?:file://)?/(?:{_PATH_PART}+/)+({_PATH_PART}*)")
# SQLite URLs hold a file path too: sqlite:////data/log.db.
_SQLITE_PATH_RE = re.compile(rf"(sqlite(?:\+\w+)?:///)/*(?:{_PATH_PART}+/)*({_PATH_PART}*)")


def without_server_paths(text: Any) -> str:
    """``text`` with every absolute file path cut to its last part (``…/v3``).

    Messages shown on public pages go through this: a path names the server's layout (user
    names, mount points) and helps nobody in the browser; the full message goes to the server log.
    """
    text = _SQLITE_PATH_RE.sub(lambda match: f"{match.group(1)}…/{match.group(2)}", str(text))
    return _SERVER_PATH_RE.sub(lambda match: f"…/{match.group(1)}", text)
