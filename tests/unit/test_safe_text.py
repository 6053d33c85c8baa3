"""Unit tests of the helpers that make untrusted text (file names) safe where it is shown."""

from __future__ import annotations

import csv
import io
import os

import pytest

from fakescope.safe_text import (
    csv_cell,
    csv_row,
    encodable,
    markdown_text,
    printable,
    without_server_paths,
)

pytestmark = pytest.mark.unit

ORDINARY = ["photo.jpg", "IMG_0001.JPG", "Фото 2024 (1).png", "写真.webp", "café.jpg", "a b.png"]


@pytest.mark.parametrize("name", ORDINARY)
def test_safe_text_ordinary_names_are_unchanged_by_encodable_and_printable(name: str) -> None:
    assert encodable(name) == name
    assert printable(name) == name


def test_safe_text_encodable_writes_undecodable_bytes_as_escapes() -> None:
    name = os.fsdecode(b"caf\xe9-\xff\xfe.jpg")  # Latin-1 bytes: not UTF-8
    assert encodable(name) == "caf\\xe9-\\xff\\xfe.jpg"
    encodable(name).encode("utf-8")  # strict UTF-8 accepts it
    # A surrogate that surrogateescape never makes (e.g. from a JSON "\ud800") too.
    assert encodable("a\ud800b") == "a\\ud800b"


def test_safe_text_encodable_keeps_control_characters() -> None:
    # Only printable() removes them: a rejection message may keep its own line breaks.
    assert encodable("line 1\nline 2") == "line 1\nline 2"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31mred.jpg", "\\x1b[31mred.jpg"),
        ("\x1b]0;pwned\x07x.jpg", "\\x1b]0;pwned\\x07x.jpg"),
        ("fake.jpg\rreal.jpg", "fake.jpg\\rreal.jpg"),
        ("a\nb\tc\x00d\x7fe.jpg", "a\\nb\\tc\\x00d\\x7fe.jpg"),
        ("c1\x9bcontrol.jpg", "c1\\x9bcontrol.jpg"),
        ("photo\u202egpj.exe", "photo\\u202egpj.exe"),
        ("\u2066iso\u2069\u200e\u200f.png", "\\u2066iso\\u2069\\u200e\\u200f.png"),
        ("line\u2028sep.png", "line\\u2028sep.png"),
        (os.fsdecode(b"\xff\xfe.jpg"), "\\xff\\xfe.jpg"),
    ],
)
def test_safe_text_printable_escapes_what_a_terminal_would_act_on(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert printable(raw).isprintable()
    printable(raw).encode("utf-8")


def test_safe_text_printable_converts_non_strings() -> None:
    assert printable(None) == "None" and printable(3) == "3"


@pytest.mark.parametrize(
    "raw",
    [
        "![i](https://evil.example/x.png)",
        "[click](javascript:alert(1))",
        "**bold** _it_ `code` ~~gone~~",
        "<img src=x onerror=alert(1)>",
        ":red[alarm] :material/warning:",
        "$x^2$",
        "# heading",
        "| a | b |",
        "https://evil.example",
        "me@evil.example",
        "&lt;b&gt;",
        "back\\slash\\*.jpg",
    ],
)
def test_safe_text_markdown_text_escapes_markdown_syntax(raw: str) -> None:
    escaped = markdown_text(raw)
    assert _unescaped_syntax(escaped) == []
    # CommonMark drops the backslash before ASCII punctuation: the text shows as itself.
    assert _unescape(escaped) == raw


def test_safe_text_markdown_text_breaks_autolinks_and_list_starts() -> None:
    assert markdown_text("www.evil.example") == "www\\.evil.example"
    assert markdown_text("1. first.jpg") == "1\\. first.jpg"
    assert markdown_text("2) x.jpg") == "2\\) x.jpg"


def test_safe_text_markdown_text_is_one_line() -> None:
    # printable() first: the line break becomes "\\n", whose backslash is then escaped.
    assert markdown_text("a\n\n# b") == "a\\\\n\\\\n\\# b"


def test_safe_text_markdown_text_leaves_plain_names_readable() -> None:
    assert markdown_text("notes.txt") == "notes.txt"
    assert markdown_text("Фото 2024.png") == "Фото 2024.png"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_safe_text_csv_cell_neutralises_formula_starts(start: str) -> None:
    cell = csv_cell(f'{start}HYPERLINK("https://evil.example","x")')
    assert cell.startswith("'")
    assert "\t" not in cell and "\r" not in cell


def test_safe_text_csv_cell_keeps_numbers_and_plain_text() -> None:
    assert csv_cell(-0.5) == -0.5
    assert csv_cell(None) is None
    assert csv_cell("photo.jpg") == "photo.jpg"
    assert csv_cell("a=b.jpg") == "a=b.jpg"  # only the first character starts a formula


def test_safe_text_csv_row_round_trips_through_the_csv_module() -> None:
    row = {"name": '=HYPERLINK("https://evil.example","x"),1', "p": 0.25, "note": 'say "hi"\n'}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(row))
    writer.writerow(csv_row(row))
    (read,) = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert read == ['\'=HYPERLINK("https://evil.example","x"),1', "0.25", 'say "hi"\\n']


def _unescaped_syntax(markdown: str) -> list[str]:
    """Markdown syntax characters that are not backslash-escaped."""
    found, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\":
            i += 2
            continue
        if markdown[i] in "\\`*_{}[]()<>#+-!|~$:&@":
            found.append(markdown[i])
        i += 1
    return found


def _unescape(markdown: str) -> str:
    """What CommonMark shows for text whose only syntax is backslash escapes."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown) and not markdown[i + 1].isalnum():
            out.append(markdown[i + 1])
            i += 2
        else:
            out.append(markdown[i])
            i += 1
    return "".join(out)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "model folder /srv/fakescope/models/v3 does not exist",
            "model folder …/v3 does not exist",
        ),
        ("cannot open '/home/alice/data/predictions.db'", "cannot open '…/predictions.db'"),
        ("sqlite:////data/fakescope/log.db is locked", "sqlite:///…/log.db is locked"),
        (
            "see https://huggingface.co/owner/name/tree/main",
            "see https://huggingface.co/owner/name/tree/main",
        ),
        ("file:///tmp/x/y.png failed", "…/y.png failed"),
        ("v2 has no metrics.json (and no /)", "v2 has no metrics.json (and no /)"),
        ("relative models/v1/config.json changed", "relative models/v1/config.json changed"),
    ],
)
def test_without_server_paths_cuts_absolute_paths_to_their_last_part(text: str, shown: str) -> None:
    assert without_server_paths(text) == shown
