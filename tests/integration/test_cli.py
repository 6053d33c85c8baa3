"""The `fakescope` command, run as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import encode, photo_like

from fakescope.registry import Registry

pytestmark = pytest.mark.integration


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fakescope", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "photo.jpg").write_bytes(encode(photo_like(seed=1), "JPEG", quality=90))
    (folder / "named-wrong.txt").write_bytes(encode(photo_like(seed=2), "JPEG"))
    (folder / "sub").mkdir()
    (folder / "sub" / "graphic.png").write_bytes(encode(photo_like(seed=3), "PNG"))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.jpg").write_bytes(encode(photo_like(seed=4), "JPEG")[:900])
    (folder / "notes.txt").write_text("hello, I am text")
    (folder / "tiny.png").write_bytes(encode(photo_like(8, 8), "PNG"))
    return folder


def test_predict_json_gives_a_verdict_or_a_reason_per_file(
    mixed_folder: Path, vit_dir: Path
) -> None:
    result = run_cli("predict", str(mixed_folder), "--model", str(vit_dir), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    rows = {Path(row["path"]).name: row for row in json.loads(result.stdout)}
    assert set(rows) == {
        "photo.jpg",
        "named-wrong.txt",
        "graphic.png",
        "empty.jpg",
        "truncated.jpg",
        "notes.txt",
        "tiny.png",
    }
    for name in ("photo.jpg", "named-wrong.txt", "graphic.png"):
        row = rows[name]
        assert row["verdict"] in ("fake", "real", "uncertain")
        assert 0 <= row["fake_probability"] <= 1
        assert set(row["scores"]) == {"Real", "Fake"}
        assert {"model", "latency_ms", "sha256"} <= set(row)
    assert rows["empty.jpg"]["reason"] == "empty"
    assert rows["truncated.jpg"]["reason"] == "truncated"
    assert rows["notes.txt"]["reason"] == "unsupported_type"
    assert rows["tiny.png"]["reason"] == "too_small"
    for name in ("empty.jpg", "truncated.jpg", "notes.txt", "tiny.png"):
        assert "verdict" not in rows[name] and rows[name]["error"]


def test_predict_csv_and_table(mixed_folder: Path, vit_dir: Path) -> None:
    result = run_cli("predict", str(mixed_folder / "photo.jpg"), "--model", str(vit_dir), "--csv")
    assert result.returncode == 0
    header, row = result.stdout.strip().splitlines()
    assert header.startswith("path,verdict,fake_probability")
    assert row.startswith(str(mixed_folder / "photo.jpg"))
    table = run_cli("predict", str(mixed_folder / "notes.txt"), "--model", str(vit_dir))
    # Issue 12: a run that scored nothing exits 3 (every file rejected), not 0.
    assert table.returncode == 3 and "REJECTED" in table.stdout


def test_missing_file_is_reported_per_file(vit_dir: Path, tmp_path: Path) -> None:
    result = run_cli("predict", str(tmp_path / "nope.jpg"), "--model", str(vit_dir), "--json")
    assert result.returncode == 3  # reported per file; nothing scored (issue 12)
    assert json.loads(result.stdout)[0]["reason"] == "unreadable"


def test_model_that_cannot_load_is_one_line_exit_1(tmp_path: Path, mixed_folder: Path) -> None:
    result = run_cli("predict", str(mixed_folder), "--model", str(tmp_path / "no-model"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_unpinned_hub_model_is_refused(mixed_folder: Path) -> None:
    result = run_cli(
        "predict", str(mixed_folder), "--model", "hf://dima806/deepfake_vs_real_image_detection"
    )
    assert result.returncode == 1 and "has no revision" in result.stderr


def test_usage_errors_exit_2(vit_dir: Path) -> None:
    assert run_cli("predict").returncode == 2
    assert run_cli("frobnicate").returncode == 2
    bad = run_cli("predict", "x.jpg", "--threshold", "7", "--model", str(vit_dir))
    assert bad.returncode == 2 and "--threshold" in bad.stderr


def test_models_commands(tmp_path: Path, vit_dir: Path) -> None:
    registry = tmp_path / "registry"
    env = {"FAKESCOPE_REGISTRY_DIR": str(registry)}
    assert run_cli("models", "register", str(vit_dir), "--activate", env=env).returncode == 0
    assert run_cli("models", "register", str(vit_dir), env=env).returncode == 0
    listing = json.loads(run_cli("models", "list", "--json", env=env).stdout)
    assert [(v["version"], v["active"]) for v in listing] == [("v1", True), ("v2", False)]
    # v2 has no metrics and no card: the gate refuses it unless forced with a reason.
    refused = run_cli("models", "promote", "v2", env=env)
    assert refused.returncode == 1 and "v2 has no metrics.json" in refused.stderr
    assert Registry(registry).active_version() == "v1"
    assert run_cli("models", "promote", "v2", "--force", " ", env=env).returncode == 2
    forced = run_cli("models", "promote", "v2", "--force", "smoke test of v2", env=env)
    assert forced.returncode == 0 and "gate overridden" in forced.stdout
    assert Registry(registry).active_version() == "v2"
    (entry,) = Registry(registry).promotion_log()
    assert entry["gate"] == "forced" and entry["force_reason"] == "smoke test of v2"
    shown = json.loads(run_cli("models", "show", env=env).stdout)
    assert shown["version"] == "v2" and shown["active"] is True
    assert "v1 is now active" in run_cli("models", "rollback", env=env).stdout
    assert Registry(registry).active_version() == "v1"
    failed = run_cli("models", "rollback", env=env)
    assert failed.returncode == 1 and "nothing to roll back to" in failed.stderr
    unknown = run_cli("models", "promote", "v7", env=env)
    assert unknown.returncode == 1 and "known: v1, v2" in unknown.stderr


def test_predict_uses_the_registry_active_version(tmp_path: Path, vit_dir: Path) -> None:
    registry = tmp_path / "registry"
    Registry(registry).register(vit_dir, name="tiny", activate=True)
    image = tmp_path / "a.jpg"
    image.write_bytes(encode(photo_like(seed=9)))
    result = run_cli("predict", str(image), "--json", env={"FAKESCOPE_REGISTRY_DIR": str(registry)})
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)[0]
    assert (row["model"], row["model_version"]) == ("tiny", "v1")


def test_predict_folder_skips_hidden_folders_and_files(tmp_path: Path, vit_dir: Path) -> None:
    image = encode(photo_like(seed=5), "JPEG")
    for relative in (
        "top.jpg",
        "sub/inner.jpg",
        ".hidden.jpg",
        ".git/objects/blob.jpg",
        ".venv/lib/site.jpg",
        "sub/.cache/thumb.jpg",
        "sub/.x/deeper/more.jpg",
    ):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(image)
    result = run_cli("predict", str(tmp_path), "--model", str(vit_dir), "--json", "--no-log")
    assert result.returncode == 0, result.stderr
    found = sorted(
        Path(row["path"]).relative_to(tmp_path).as_posix() for row in json.loads(result.stdout)
    )
    assert found == ["sub/inner.jpg", "top.jpg"]
    # A hidden folder named on the command line is the user's choice: it is searched.
    named = run_cli(
        "predict", str(tmp_path / ".git"), "--model", str(vit_dir), "--json", "--no-log"
    )
    assert [Path(row["path"]).name for row in json.loads(named.stdout)] == ["blob.jpg"]


# ----------------------------------------------------------------- issue 12: a CLI scripts rely on


def test_predict_that_scores_nothing_exits_3_and_says_why(tmp_path: Path, vit_dir: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello, I am text")
    (tmp_path / "empty.jpg").write_bytes(b"")
    result = run_cli("predict", str(tmp_path), "--model", str(vit_dir), "--no-log")
    assert result.returncode == 3, result.stderr
    assert result.stdout.count("REJECTED") == 2
    assert result.stdout.rstrip().endswith("scored 0: 0 fake, 0 real, 0 uncertain; rejected 2")
    as_json = run_cli("predict", str(tmp_path), "--model", str(vit_dir), "--json", "--no-log")
    assert as_json.returncode == 3 and len(json.loads(as_json.stdout)) == 2


def test_predict_prints_a_summary_line(mixed_folder: Path, vit_dir: Path) -> None:
    table = run_cli("predict", str(mixed_folder), "--model", str(vit_dir), "--no-log")
    assert table.returncode == 0, table.stderr
    (summary,) = [line for line in table.stdout.splitlines() if line.startswith("scored ")]
    counts = re.fullmatch(r"scored 3: (\d) fake, (\d) real, (\d) uncertain; rejected 4", summary)
    assert counts and sum(map(int, counts.groups())) == 3
    # With --json the summary goes to stderr: stdout stays one JSON document.
    data = run_cli("predict", str(mixed_folder), "--model", str(vit_dir), "--json", "--no-log")
    rows = json.loads(data.stdout)
    verdicts = [row.get("verdict") for row in rows]
    expected = (
        f"scored 3: {verdicts.count('fake')} fake, {verdicts.count('real')} real, "
        f"{verdicts.count('uncertain')} uncertain; rejected 4"
    )
    assert data.stderr.strip() == expected


@pytest.fixture(scope="module")
def eval_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("eval")
    for label, seeds in (("real", (1, 2, 3)), ("fake", (4, 5, 6))):
        (folder / label).mkdir()
        for seed in seeds:
            (folder / label / f"{label}{seed}.png").write_bytes(
                encode(photo_like(seed=seed), "PNG")
            )
    return folder


def test_evaluate_prints_confusion_matrix_and_misclassified_files(
    eval_folder: Path, vit_dir: Path
) -> None:
    data = run_cli("evaluate", str(eval_folder), "--model", str(vit_dir), "--json")
    assert data.returncode == 0, data.stderr
    metrics = json.loads(data.stdout)
    (tn, fp), (fn, tp) = metrics["confusion_matrix"]["matrix"]
    missed = metrics["misclassified"]
    assert len(missed) == fp + fn
    for miss in missed:
        called_fake = miss["fake_probability"] >= metrics["threshold"]
        assert called_fake == (miss["truth"] == "real")  # each one really is a miss

    text = run_cli("evaluate", str(eval_folder), "--model", str(vit_dir))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert "confusion matrix (threshold 0.5; rows: truth, columns: verdict)" in lines
    assert re.search(rf"truth real\s+{tn}\s+{fp}$", text.stdout, re.M)
    assert re.search(rf"truth fake\s+{fn}\s+{tp}$", text.stdout, re.M)
    assert f"misclassified: {len(missed)}" in lines
    for miss in missed:
        assert any(line.strip().startswith(miss["path"]) for line in lines)


def test_evaluate_on_a_folder_without_images_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("evaluate", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.startswith("fakescope: error: data folder") and "Traceback" not in (
        result.stderr
    )
    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    assert run_cli("evaluate", str(tmp_path)).returncode == 2  # class folders with no images


def test_commands_without_a_model_never_import_torch(tmp_path: Path, vit_dir: Path) -> None:
    Registry(tmp_path / "registry").register(vit_dir, activate=True)
    probe = (
        "import sys\n"
        "from fakescope.cli import main\n"
        "try:\n"
        "    code = main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'openvino') if m in sys.modules)\n"
        "print('HEAVY', code, heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "FAKESCOPE_REGISTRY_DIR": str(tmp_path / "registry")}
    for args in (["--help"], ["models", "list"], ["models", "show"], ["predict", "--help"]):
        result = subprocess.run(
            [sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env
        )
        assert "HEAVY 0 []" in result.stderr, (args, result.stderr)


QUALITY_GENERATED = Path(__file__).resolve().parents[1] / "quality" / "generated"
V1 = Path(__file__).resolve().parents[2] / "models" / "v1"


@pytest.fixture(scope="module")
def small_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few committed held-out twins of two generators and some DCGAN samples, as a cache."""
    import shutil

    root = tmp_path_factory.mktemp("generated")
    lines = (QUALITY_GENERATED / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    kept, per_generator = [], {}
    for line in lines:
        record = json.loads(line)
        if record["generator"] not in ("waifu2x-photo-x2", "dcgan-digiface"):
            continue
        per_generator[record["generator"]] = per_generator.get(record["generator"], 0) + 1
        if per_generator[record["generator"]] > 6:
            continue
        for key in ("fake", "real"):
            if record.get(key):
                (root / record[key]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(QUALITY_GENERATED / record[key], root / record[key])
        kept.append(line)
    (root / "manifest.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return root


def test_evaluate_generated_prints_and_writes_the_clean_web_hard_report(
    small_generated: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    text = run_cli(
        "evaluate",
        "--generated",
        str(small_generated),
        "--report-json",
        str(out),
        "--model",
        str(V1),
    )
    assert text.returncode == 0, text.stderr
    written = json.loads(out.read_text(encoding="utf-8"))
    # v1 trained on no real generator: every family is unseen.
    assert written["held_out_families"] == ["dcgan", "waifu2x-upconv"]
    rows = written["rows"]
    assert {(r["generator"], r["condition"]) for r in rows} == {
        (g, c)
        for g in ("waifu2x-photo-x2", "dcgan-digiface", "all unseen")
        for c in ("clean", "web", "hard")
    }
    assert all(r["n_real"] == 12 for r in rows)  # 6 real twins, two seeds per condition
    for row in rows:
        line = re.search(
            rf"^{re.escape(row['generator'])}\s+.*\s{row['condition']}\s.*$", text.stdout, re.M
        )
        assert line and f"{row['tpr']:.3f}" in line.group(0)
    assert "targets (issue 10):" in text.stdout and "unseen_clean_tpr" in text.stdout

    seen = run_cli("evaluate", "--generated", str(small_generated), "--hold-out", "dcgan", "--json")
    assert seen.returncode == 0, seen.stderr
    marked = {r["generator"]: r["seen"] for r in json.loads(seen.stdout)["rows"]}
    assert marked["waifu2x-photo-x2"] is True and marked["dcgan-digiface"] is False


def test_evaluate_generated_usage_errors_say_what_is_needed(
    small_generated: Path, tmp_path: Path
) -> None:
    both = run_cli("evaluate", str(tmp_path), "--generated", str(small_generated))
    assert both.returncode == 2 and "either a data folder" in both.stderr
    neither = run_cli("evaluate")
    assert neither.returncode == 2 and "either a data folder" in neither.stderr
    empty = run_cli("evaluate", "--generated", str(tmp_path))
    assert empty.returncode == 2 and "generate_fakes.py" in empty.stderr
    no_split = run_cli("evaluate", "--generated", str(small_generated), "--split", "train")
    assert no_split.returncode == 2 and "no real and generated images" in no_split.stderr
    for result in (both, neither, empty, no_split):
        assert "Traceback" not in result.stderr


def test_evaluate_generated_reads_the_families_the_active_model_trained_on(
    small_generated: Path,
) -> None:
    """The active demo model (v2) trained on waifu2x-upconv, and held the DCGAN out."""
    result = run_cli("evaluate", "--generated", str(small_generated), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["held_out_families"] == ["dcgan"]
    marked = {r["generator"]: r["seen"] for r in report["rows"]}
    assert marked == {
        "waifu2x-photo-x2": True,
        "dcgan-digiface": False,
        "all seen": True,
        "all unseen": False,
    }
