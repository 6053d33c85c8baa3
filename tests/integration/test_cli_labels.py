"""``fakescope label`` and ``fakescope labels list|export|mistakes``, run as real processes on a
log filled by a real ``fakescope predict`` with the committed demo model."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fakescope.store import LABEL_COLUMNS, PredictionStore

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "src" / "fakescope" / "samples"
ACTIVE = json.loads((REPO_ROOT / "models" / "registry.json").read_text(encoding="utf-8"))["active"]
DEMO_MODEL = REPO_ROOT / "models" / ACTIVE
FORMULA_NOTE = '=HYPERLINK("http://x")'


def truth_of(name: str) -> str:
    """The samples are named by what they are: fake_... and real_..."""
    return name.split("_", 1)[0]


class Cli:
    """The ``fakescope`` command on one data folder."""

    def __init__(self, data_dir: Path, cache_dir: Path) -> None:
        self.data_dir = data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FAKESCOPE_")}
        self.env.update(
            FAKESCOPE_DATA_DIR=str(data_dir), XDG_CACHE_HOME=str(cache_dir), HF_HUB_OFFLINE="1"
        )

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "fakescope", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=300,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def store(self) -> PredictionStore:
        return PredictionStore(f"sqlite:///{self.data_dir / 'predictions.db'}")


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Cli, Path, list[dict[str, Any]]]:
    """Every bundled sample scored once by the demo model through ``fakescope predict``."""
    uploads = tmp_path_factory.mktemp("uploads")
    for sample in sorted(SAMPLES.glob("*_*.*")):
        if sample.suffix in (".png", ".jpg"):
            shutil.copy(sample, uploads / sample.name)
    cli = Cli(tmp_path_factory.mktemp("data"), tmp_path_factory.getbasetemp() / "xdg-cache")
    result = cli("predict", str(uploads), "--model", str(DEMO_MODEL), "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    store = cli.store()
    for row in rows:
        row["name"] = Path(row["path"]).name
        row["truth"] = truth_of(row["name"])
        row["id"] = store.find_prediction(sha256=row["sha256"])["id"]
    assert len(rows) >= 6 and {r["truth"] for r in rows} == {"real", "fake"}
    return cli, uploads, rows


def one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, (result.stdout, result.stderr)
    assert result.stderr.startswith("fakescope: error: ") and result.stderr.count("\n") == 1
    assert text in result.stderr, result.stderr


def test_label_errors_are_one_clear_line_and_store_nothing(
    logged: tuple[Cli, Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    cli, uploads, rows = logged
    before = cli.store().count_labels()
    (tmp_path / "notes.txt").write_text("hello, I am text")

    one_line_error(cli("label", "--truth", "real"), 2, "--id N, --sha256 HEX or an image FILE")
    one_line_error(
        cli("label", "--id", str(rows[0]["id"]), "--sha256", rows[0]["sha256"], "--truth", "real"),
        2,
        "give the image one way",
    )
    one_line_error(cli("label", "--id", "99999", "--truth", "real"), 2, "no prediction with id")
    one_line_error(cli("label", str(tmp_path / "gone.jpg"), "--truth", "real"), 2, "cannot read")
    one_line_error(cli("label", str(tmp_path / "notes.txt"), "--truth", "fake"), 2, "not an image")
    one_line_error(cli("label", "--sha256", "abc", "--truth", "fake"), 2, "64 hexadecimal")
    one_line_error(
        cli("label", "--sha256", "0" * 64, "--wrong"), 2, "give --truth real or --truth fake"
    )
    one_line_error(
        cli("label", "--id", str(rows[0]["id"]), "--truth", "fake", "--note", "x" * 501),
        2,
        "at most 500",
    )
    assert cli("label", "--id", "1").returncode == 2  # no truth: argparse's usage error
    assert cli("label", "--id", "1", "--truth", "maybe").returncode == 2
    one_line_error(cli("labels"), 2, "labels needs a command: export, list, mistakes")
    one_line_error(cli("labels", "mistakes", str(tmp_path / "notes.txt")), 2, "not a folder")
    one_line_error(
        cli("labels", "mistakes", str(tmp_path / "out"), "--search", str(tmp_path / "nowhere")),
        2,
        "is not a folder",
    )
    one_line_error(
        cli("labels", "export", str(tmp_path / "no" / "such" / "dir.csv")), 1, "cannot write"
    )
    assert cli.store().count_labels() == before
    assert not (cli.data_dir / "labelled_images").exists()


def test_label_every_way_then_list_export_and_export_mistakes(
    logged: tuple[Cli, Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    cli, uploads, rows = logged
    store = cli.store()
    assert cli("labels", "list").stdout.startswith("no labels recorded yet")
    assert json.loads(cli("labels", "list", "--json").stdout) == []

    # Each sample labelled with its true class: from the file, by prediction id or by hash;
    # by id and hash through --right / --wrong about the logged verdict where it was decided.
    kept_files = set()
    for i, row in enumerate(rows):
        how = ("file", "id", "sha")[i % 3]
        target = {
            "file": [str(uploads / row["name"])],
            "id": ["--id", str(row["id"])],
            "sha": ["--sha256", row["sha256"]],
        }[how]
        if how == "file":
            note = ["--note", FORMULA_NOTE] if i == 0 else []
            result = cli("label", *target, "--truth", row["truth"], *note)
            kept_files.add(row["sha256"])
        elif row["verdict"] == "uncertain":
            refused = cli("label", *target, "--right")
            one_line_error(refused, 2, "neither right nor wrong")
            result = cli("label", *target, "--truth", row["truth"])
        else:
            feedback = "--right" if row["verdict"] == row["truth"] else "--wrong"
            result = cli("label", *target, feedback)
        assert result.returncode == 0, result.stderr
        assert f"stored: {row['truth']}" in result.stdout
        assert row["sha256"] in result.stdout
        if how == "id":
            assert f"applies to prediction {row['id']} only" in result.stdout
        else:
            assert "applies to every prediction of this image" in result.stdout
            assert f"prediction {row['id']}: verdict {row['verdict']}" in result.stdout
        if how == "file":
            kept = list((cli.data_dir / "labelled_images").glob(f"{row['sha256']}.*"))
            assert [p.read_bytes() for p in kept] == [(uploads / row["name"]).read_bytes()]
            assert f"copy kept: {kept[0]}" in result.stdout

    # The labels stored are the true classes, and the predictions are as predicted.
    labelled = store.labelled_predictions()
    assert len(labelled) == len(rows) == store.count_labels()
    by_sha = {row["sha256"]: row for row in rows}
    for _, prediction in labelled.iterrows():
        assert prediction["truth"] == by_sha[prediction["sha256"]]["truth"]
        assert prediction["verdict"] == by_sha[prediction["sha256"]]["verdict"]

    listed = json.loads(cli("labels", "list", "--json").stdout)
    assert [item["id"] for item in listed] == sorted(labelled["label_id"], reverse=True)
    assert set(listed[0]) == set(LABEL_COLUMNS)
    assert listed[-1]["note"] == FORMULA_NOTE  # JSON keeps the exact text
    assert len(json.loads(cli("labels", "list", "--json", "--limit", "2").stdout)) == 2
    table = cli("labels", "list").stdout.splitlines()
    assert len(table) == len(rows) and "by hash" in table[0] + table[1] + table[2]

    export_path = tmp_path / "labels.csv"
    result = cli("labels", "export", str(export_path))
    assert result.returncode == 0 and f"{len(rows)} labels written" in result.stdout
    with open(export_path, newline="", encoding="utf-8") as handle:
        exported = list(csv.DictReader(handle))
    assert list(exported[0]) == list(LABEL_COLUMNS) and len(exported) == len(rows)
    assert exported[0]["note"] == "'" + FORMULA_NOTE  # a spreadsheet shows it as text
    result = cli("labels", "export", "-", "--predictions")
    joined = list(csv.DictReader(result.stdout.splitlines()))
    assert len(joined) == len(rows)
    assert {(r["sha256"], r["verdict"], r["truth"]) for r in joined} == {
        (r["sha256"], r["verdict"], r["truth"]) for r in rows
    }

    # Mistakes: decided verdicts that differ from the truth (the demo model has some).
    wrong = {
        r["sha256"]: r
        for r in rows
        if r["verdict"] in ("fake", "real") and r["verdict"] != r["truth"]
    }
    uncertain = {r["sha256"]: r for r in rows if r["verdict"] == "uncertain"}
    assert wrong, "the demo model gets every sample right: pick samples it gets wrong"

    out = tmp_path / "mistakes"
    result = cli("labels", "mistakes", str(out))
    assert result.returncode == 0, result.stderr
    missing = sorted(set(wrong) - kept_files)
    for sha in missing:
        assert sha in result.stdout  # named, with the hint
    if missing:
        assert "add --search DIR" in result.stdout
    result = cli("labels", "mistakes", str(out), "--search", str(uploads))
    assert result.returncode == 0, result.stderr
    for sha, row in wrong.items():
        written = list((out / row["truth"]).glob(f"{sha}.*"))
        assert [p.read_bytes() for p in written] == [(uploads / row["name"]).read_bytes()]
    assert sum(1 for _ in out.rglob("*.*")) == len(wrong)

    everything = tmp_path / "with-uncertain"
    result = cli(
        "labels", "mistakes", str(everything), "--search", str(uploads), "--include-uncertain"
    )
    assert result.returncode == 0, result.stderr
    assert sum(1 for _ in everything.rglob("*.*")) == len(wrong) + len(uncertain)
    classes = {r["truth"] for r in (*wrong.values(), *uncertain.values())}
    if classes == {"real", "fake"}:
        from fakescope.training.dataset import list_image_folder

        loaded = list_image_folder(everything)
        assert len(loaded) == len(wrong) + len(uncertain)
        assert {p.path.stem: p.label for p in loaded} == {
            sha: int(r["truth"] == "fake") for sha, r in (wrong | uncertain).items()
        }

    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("...")
    one_line_error(cli("labels", "mistakes", str(tmp_path / "home")), 2, "holds other things")
