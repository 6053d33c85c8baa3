"""The DVC pipeline (dvc.yaml, params.yaml) and the stages of scripts/pipeline.py.

The real stages take an hour; these tests check that the pipeline's commands name options the
scripts have, that its stages connect, and run the cheap stages on tiny data of their own.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from PIL import Image

from fakescope.registry import Registry

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["photos", "generate", "dataset", "train", "evaluate", "export"]
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


def _yaml(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))


def _render(cmd: str, params: dict[str, Any]) -> str:
    """A stage command as DVC runs it: ``${a.b}`` is a value, ``${a}`` a dict of options
    (``--key value``; a true flag is ``--key``, a false one is left out)."""

    def value(match: re.Match[str]) -> str:
        node: Any = params
        for part in match.group(1).strip().split("."):
            assert isinstance(node, dict) and part in node, f"params.yaml has no {match.group(1)}"
            node = node[part]
        if isinstance(node, dict):
            options = []
            for key, item in node.items():
                if item is True:
                    options.append(f"--{key}")
                elif item is not False:
                    options.append(f"--{key} {shlex.quote(str(item))}")
            return " ".join(options)
        assert not isinstance(node, list), "DVC cannot put a list into a command"
        return str(node)

    return _PLACEHOLDER.sub(value, cmd)


def _commands(stage: dict[str, Any]) -> list[str]:
    cmd = stage["cmd"]
    return cmd if isinstance(cmd, list) else [cmd]


@cache
def _help(script: str, sub: str | None) -> str:
    args = [sys.executable, script, *([sub] if sub else []), "--help"]
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _script(name: str) -> ModuleType:
    module_name = f"fakescope_script_{name}"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses in the script look their module up
    spec.loader.exec_module(module)
    return module


def test_dvc_yaml_has_the_stages_in_order_and_every_param_exists() -> None:
    pipeline, params = _yaml("dvc.yaml"), _yaml("params.yaml")
    assert list(pipeline["stages"]) == STAGES
    for name, stage in pipeline["stages"].items():
        for command in _commands(stage):
            _render(command, params)  # every ${...} resolves to a value or a dict of options
        for entry in stage.get("params", []):
            node: Any = params
            for part in str(entry).split("."):
                assert part in node, f"stage {name}: params.yaml has no {entry}"
                node = node[part]


def test_every_stage_command_names_a_script_and_options_it_has() -> None:
    pipeline, params = _yaml("dvc.yaml"), _yaml("params.yaml")
    for name, stage in pipeline["stages"].items():
        for command in _commands(stage):
            words = shlex.split(_render(command, params))
            assert words[0] == "python" and words[1].startswith("scripts/"), command
            assert (ROOT / words[1]).is_file(), f"stage {name}: {words[1]} does not exist"
            sub = words[2] if words[1] == "scripts/pipeline.py" else None
            if sub is not None:
                assert sub == name, f"stage {name} runs the pipeline.py stage {sub}"
            options = {w.split("=")[0] for w in words if w.startswith("--")}
            text = _help(words[1], sub)
            missing = sorted(o for o in options if not re.search(rf"{re.escape(o)}\b", text))
            assert not missing, f"stage {name}: {words[1]} has no {', '.join(missing)}"


def _paths(entries: list[Any]) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else str(e) for e in entries]


def test_stages_connect_through_their_outputs() -> None:
    """A build/ input is an output of an earlier stage; any other input is in the checkout."""
    made: set[str] = set()
    for name, stage in _yaml("dvc.yaml")["stages"].items():
        for dep in _paths(stage.get("deps", [])):
            if dep.startswith("build/"):
                assert dep in made, f"stage {name} reads {dep}, which no earlier stage makes"
            else:
                assert (ROOT / dep).exists(), f"stage {name} reads {dep}, which does not exist"
        for key in ("outs", "metrics", "plots"):
            made.update(_paths(stage.get(key, [])))


def test_dvc_config_has_a_local_remote_and_sends_nothing() -> None:
    text = (ROOT / ".dvc" / "config").read_text(encoding="utf-8")
    assert re.search(r"^\s*remote = local$", text, re.M)
    assert re.search(r"^\s*analytics = false$", text, re.M)
    assert re.search(r"^\s*url = \.\./build/dvc-remote$", text, re.M)


def _dvc() -> list[str] | None:
    found = shutil.which("dvc") or shutil.which("dvc", path=str(Path(sys.executable).parent))
    if found:
        return [found]
    if importlib.util.find_spec("dvc") is not None:
        return [sys.executable, "-m", "dvc"]
    return None


@pytest.mark.skipif(_dvc() is None, reason="DVC is not installed (make pipeline installs it)")
def test_dvc_dag_reads_the_pipeline() -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    result = subprocess.run(
        [*(_dvc() or []), "dag", "--md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    for name in STAGES:
        assert name in result.stdout


# -- the stages of scripts/pipeline.py on tiny data -------------------------------------------


def _png(path: Path, seed: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 12), (seed * 40 % 256, 80, 120)).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_cache(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Factory: photos.json and a generated cache (two families, three photos, one per split)."""

    def make(records: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
        photos = tmp_path / "photos.json"
        rows = [
            {"key": "p_train", "split": "train"},
            {"key": "p_val", "split": "validation"},
            {"key": "p_held", "split": "heldout"},
        ]
        photos.write_text(json.dumps({"split_seed": 0, "photos": rows}), encoding="utf-8")
        generated = tmp_path / "generated"
        if records is None:
            records = []
            for index, (photo, split) in enumerate(
                [("p_train", "train"), ("p_val", "validation"), ("p_held", "heldout")]
            ):
                real = f"reals/{split}/{photo}.png"
                real_sha = _png(generated / real, index)
                for generator, family in (("up-x2", "upscale"), ("gan-x", "dcgan")):
                    fake = f"{generator}/{split}/{photo}.png"
                    records.append(
                        {
                            "photo": photo,
                            "split": split,
                            "generator": generator,
                            "family": family,
                            "fake": fake,
                            "sha256": _png(generated / fake, index + 7),
                            "real": real,
                            "real_sha256": real_sha,
                        }
                    )
        generated.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(r) for r in records]
        (generated / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return photos, generated

    return make


def _run_stage(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = _script("pipeline").main(list(args))
    return code, err.getvalue()


def test_dataset_stage_summarises_seen_and_unseen(
    tiny_cache: Callable[..., tuple[Path, Path]], tmp_path: Path
) -> None:
    photos, generated = tiny_cache()
    out = tmp_path / "dataset.json"
    code, err = _run_stage(
        "dataset", "--photos", str(photos), "--generated", str(generated), "--out", str(out)
    )
    assert code == 0, err
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert summary["hold_out"] == ["dcgan"] and summary["seen_families"] == ["upscale"]
    assert summary["generators"]["gan-x"] == {
        "family": "dcgan",
        "seen": False,
        "train": 1,
        "validation": 1,
        "heldout": 1,
    }
    assert summary["totals"]["real_twins"] == {"heldout": 1, "train": 1, "validation": 1}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("leak", "does not follow the photo split: p_held"),
        ("changed file", "does not have the SHA-256 its manifest records"),
        ("missing family", "held-out family stylegan not in the generated cache"),
    ],
)
def test_dataset_stage_refuses_a_cache_it_cannot_trust(
    tiny_cache: Callable[..., tuple[Path, Path]], tmp_path: Path, damage: str, message: str
) -> None:
    photos, generated = tiny_cache()
    hold_out = "dcgan"
    if damage == "leak":
        lines = (generated / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        record = json.loads(lines[-1])
        record["split"] = "train"  # a held-out photo's twin in the training split
        (generated / "manifest.jsonl").write_text(
            "\n".join([*lines, json.dumps(record)]) + "\n", encoding="utf-8"
        )
    elif damage == "changed file":
        _png(generated / "up-x2" / "train" / "p_train.png", 99)
    else:
        hold_out = "dcgan,stylegan"
    code, err = _run_stage(
        "dataset",
        "--photos",
        str(photos),
        "--generated",
        str(generated),
        "--hold-out",
        hold_out,
        "--out",
        str(tmp_path / "dataset.json"),
    )
    assert code == 1 and err.startswith("pipeline dataset: error: ") and message in err
    assert not (tmp_path / "dataset.json").exists()


def test_export_stage_registers_once_and_keeps_the_run_id(vit_dir: Path, tmp_path: Path) -> None:
    model = shutil.copytree(vit_dir, tmp_path / "demo-model")
    run_id = "fedcba9876543210fedcba9876543210"
    (model / "metrics.json").write_text(
        json.dumps({"accuracy": 0.9, "training": {"mlflow_run_id": run_id}}), encoding="utf-8"
    )
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps({"targets_met": False}), encoding="utf-8")
    registry = tmp_path / "models"
    out = tmp_path / "export.json"
    common = ["--model", str(model), "--evaluation", str(evaluation), "--out", str(out)]
    common += ["--registry", str(registry)]

    code, err = _run_stage("export", *common, "--require-targets")
    assert code == 1 and "missed a target" in err and not registry.exists()
    for created in (True, False):  # the same files again: no second version
        code, err = _run_stage("export", *common)
        assert code == 0, err
        result = json.loads(out.read_text(encoding="utf-8"))
        assert result["version"] == "v1" and result["created"] is created
        assert result["mlflow_run_id"] == run_id and result["activated"] is False
    assert [v.mlflow_run_id for v in Registry(registry).versions()] == [run_id]
