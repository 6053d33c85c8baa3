"""The `fakescope` command on files with hostile names and on a closed pipe, as real processes.

Names are made with ``os.fsencode``/``os.fsdecode`` in temporary folders, so a name that is not
UTF-8 is the real thing a Linux file system gives. stdout is strict UTF-8 (PYTHONIOENCODING), as
on a developer's terminal: the C.UTF-8 locale of CI would quietly pass lone surrogates through.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import encode, photo_like

from fakescope.config import Settings
from fakescope.store import PredictionStore

pytestmark = pytest.mark.integration

NOT_UTF8 = os.fsdecode(b"photo-\xff\xfe.jpg")  # lone surrogates U+DCFF U+DCFE
NOT_UTF8_SHOWN = "photo-\\xff\\xfe.jpg"
TERMINAL_NAMES = {
    "\x1b[31mred\x1b[0m.jpg": "\\x1b[31mred\\x1b[0m.jpg",
    "fake.jpg\rreal.jpg": "fake.jpg\\rreal.jpg",
    "new\nline.jpg": "new\\nline.jpg",
    "photo\u202egpj.exe": "photo\\u202egpj.exe",
    "tab\tname.jpg": "tab\\tname.jpg",
}
FORMULA_NAMES = [
    '=HYPERLINK("http:evil",x).jpg',
    "+cmd.jpg",
    "-2+3.jpg",
    "@SUM(1).jpg",
    "\tlead-tab.jpg",
    "\rlead-cr.jpg",
]


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a process; output kept as bytes, so nothing is decoded on the way back."""
    return subprocess.run(
        [sys.executable, "-m", "fakescope", *args],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict", **(env or {})},
        timeout=300,
    )


def _write_image(folder: Path, name: str, seed: int = 0) -> Path:
    path = folder / name
    path.write_bytes(encode(photo_like(seed=seed), "JPEG", quality=90))
    return path


def _log() -> PredictionStore:
    return PredictionStore.from_settings(Settings.from_env())


def test_cli_name_that_is_not_utf8_gets_a_verdict_and_is_logged(
    tmp_path: Path, vit_dir: Path
) -> None:
    _write_image(tmp_path, NOT_UTF8)
    (tmp_path / os.fsdecode(b"broken-\xe9.png")).write_bytes(b"not an image")

    result = run_cli("predict", str(tmp_path), "--model", str(vit_dir))

    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert b"Traceback" not in result.stderr and b"warning" not in result.stderr
    table = result.stdout.decode("utf-8")  # strict: the output is valid UTF-8
    verdict_line = next(line for line in table.splitlines() if NOT_UTF8_SHOWN in line)
    assert any(v in verdict_line for v in ("REAL", "FAKE", "UNCERTAIN"))
    assert any("broken-\\xe9.png" in line and "REJECTED" in line for line in table.splitlines())
    store = _log()
    assert store.predictions()["input_name"].tolist() == [str(tmp_path / NOT_UTF8_SHOWN)]
    assert store.rejections()["input_name"].tolist() == [str(tmp_path / "broken-\\xe9.png")]


def test_cli_name_that_is_not_utf8_in_json_and_csv(tmp_path: Path, vit_dir: Path) -> None:
    path = _write_image(tmp_path, NOT_UTF8)

    as_json = run_cli("predict", str(path), "--model", str(vit_dir), "--json", "--no-log")
    as_csv = run_cli("predict", str(path), "--model", str(vit_dir), "--csv", "--no-log")

    assert as_json.returncode == 0 and as_csv.returncode == 0
    # JSON keeps the exact name (its \\udcff escapes give the bytes back through os.fsencode).
    (row,) = json.loads(as_json.stdout)
    assert os.fsencode(row["path"]) == os.fsencode(path) and row["verdict"]
    (csv_row,) = csv.DictReader(io.StringIO(as_csv.stdout.decode("utf-8")))
    assert csv_row["path"] == str(tmp_path / NOT_UTF8_SHOWN) and csv_row["verdict"]


def test_cli_table_shows_control_characters_as_escapes(tmp_path: Path, vit_dir: Path) -> None:
    for seed, name in enumerate(TERMINAL_NAMES):
        _write_image(tmp_path, name, seed)

    result = run_cli("predict", ".", "--model", str(vit_dir), "--no-log", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    table = result.stdout.decode("utf-8")
    for control in ("\x1b", "\r", "\t", "\u202e"):
        assert control not in table
    lines = table.splitlines()
    # a row per file, a blank line, the model, the summary line (issue 12)
    assert len(lines) == len(TERMINAL_NAMES) + 3
    for shown in TERMINAL_NAMES.values():
        assert sum(line.startswith(shown) for line in lines) == 1


def test_cli_csv_neutralises_names_that_start_a_formula(tmp_path: Path, vit_dir: Path) -> None:
    for seed, name in enumerate(FORMULA_NAMES):
        _write_image(tmp_path, name, seed)

    # Relative paths: the cell then starts with the name itself, as a spreadsheet would see it.
    result = run_cli("predict", ".", "--model", str(vit_dir), "--csv", "--no-log", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout.decode("utf-8"))))
    assert len(rows) == len(FORMULA_NAMES)
    for row in rows:
        assert row["path"].startswith("'"), row["path"]
        assert "\t" not in row["path"] and "\r" not in row["path"]
        assert row["verdict"] in ("real", "fake", "uncertain")
    shown = {row["path"] for row in rows}
    assert '\'=HYPERLINK("http:evil",x).jpg' in shown and "'\\tlead-tab.jpg" in shown


def test_cli_closed_pipe_ends_quietly_with_141(tmp_path: Path, vit_dir: Path) -> None:
    for seed in range(3):
        _write_image(tmp_path, f"img{seed}.jpg", seed)
    process = subprocess.Popen(
        [sys.executable, "-m", "fakescope", "predict", str(tmp_path), "--model", str(vit_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONIOENCODING": "utf-8:strict"},
    )
    # The reader goes away before the command writes a line (it is still loading the model), so
    # its first write meets a closed pipe, whatever the timing.
    process.stdout.close()
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 141, stderr.decode(errors="replace")
    assert stderr == b""
    # The predictions were made before the output: they are in the log.
    assert _log().count() == 3


def test_cli_piped_into_head_prints_no_traceback(tmp_path: Path, vit_dir: Path) -> None:
    for seed in range(3):
        _write_image(tmp_path, f"img{seed}.jpg", seed)
    command = (
        f"{sys.executable} -m fakescope predict {tmp_path} --model {vit_dir} --no-log | head -1"
    )

    result = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=300, env=os.environ
    )

    assert result.returncode == 0
    assert result.stderr == "", result.stderr
    (line,) = result.stdout.splitlines()
    assert "img0.jpg" in line
