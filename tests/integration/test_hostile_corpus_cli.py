"""The hostile corpus through the real ``fakescope predict`` command, in a subprocess: one row
per file, a verdict or a clear reason each, in bounded time and memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_corpus import ACCEPT, build_corpus, write_corpus

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = REPO_ROOT / "models" / "v1"
ACCEPTED_SENTENCE = "Accepted: JPEG, PNG, WebP, BMP, TIFF or GIF images"
MAX_RSS_BYTES = 1.5 * 1024**3
# Runs the command and reports its peak RSS alone (this test process's other children would
# count in its own RUSAGE_CHILDREN).
_MEASURE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024; "
    "print(f'peak_rss={peak}', file=sys.stderr); sys.exit(code)"
)


def test_cli_gives_every_corpus_file_a_verdict_or_a_clear_reason(tmp_path: Path) -> None:
    cases = {case.file_name: case for case in build_corpus()}
    folder = tmp_path / "corpus"
    write_corpus(folder)
    env = dict(
        os.environ,
        FAKESCOPE_PRECISION="fp32",
        FAKESCOPE_RUNTIME="torch",
        FAKESCOPE_DATA_DIR=str(tmp_path / "data"),
    )
    command = [sys.executable, "-m", "fakescope", "predict", "--json", "--no-log"]
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command, "--model", str(DEMO_MODEL), str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    seconds = time.perf_counter() - start
    peak_rss = int(result.stderr.strip().splitlines()[-1].removeprefix("peak_rss="))

    assert result.returncode in (0, 1), result.stderr[-3000:]
    rows = json.loads(result.stdout)
    by_name = {Path(row["path"]).name: row for row in rows}
    assert set(by_name) == set(cases)
    problems = []
    for file_name, case in cases.items():
        row = by_name[file_name]
        if case.expect == ACCEPT:
            if row.get("verdict") not in ("real", "fake", "uncertain"):
                problems.append(f"{file_name}: expected a verdict, got {row}")
        elif "error" not in row or ACCEPTED_SENTENCE not in row["error"]:
            problems.append(f"{file_name}: expected a clear reason, got {row}")
        elif case.reason is not None and row["reason"] != case.reason:
            problems.append(f"{file_name}: expected {case.reason}, got {row['reason']}")
    assert not problems, "\n".join(problems)
    # 2 s per file is the bound; the whole run (model load included) stays far below it.
    assert seconds < 2.0 * len(cases)
    assert peak_rss < MAX_RSS_BYTES
