"""The stages of the demo model's DVC pipeline that have no script of their own (dvc.yaml).

    python scripts/pipeline.py photos                 # fetch + normalise + split the photo pool
    python scripts/pipeline.py dataset --hold-out dcgan
    python scripts/pipeline.py evaluate               # score build/demo-model on held-out photos
    python scripts/pipeline.py export                 # register build/demo-model in models/

``generate`` and ``train`` run ``scripts/generate_fakes.py`` and ``scripts/build_demo_model.py``
directly (see dvc.yaml). Every stage reads and writes fixed paths under ``build/`` (ignored by
git, tracked by DVC); ``docs/pipeline.md`` describes the whole pipeline. Each stage exits 1 with
one line on stderr when it cannot do its work (a missing input, a leak between splits, a file
whose hash is not the one its manifest records), and 2 for bad options.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fakescope.errors import FakeScopeError

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build"
PIPELINE_DIR = BUILD / "pipeline"
PHOTO_CACHE = BUILD / "photo-cache"
PHOTOS_JSON = PIPELINE_DIR / "photos.json"
DATASET_JSON = PIPELINE_DIR / "dataset.json"
EVALUATION_JSON = PIPELINE_DIR / "evaluation.json"
HISTORY_JSON = PIPELINE_DIR / "history.json"
REPORT_MD = PIPELINE_DIR / "report.md"
EXPORT_JSON = PIPELINE_DIR / "export.json"
GENERATED_DIR = BUILD / "generated"
MODEL_DIR = BUILD / "demo-model"
STAGES = ("photos", "dataset", "evaluate", "export")


class StageError(Exception):
    """A stage cannot do its work (exit code 1, one line on stderr)."""


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json(path: Path, made_by: str) -> Any:
    if not path.is_file():
        raise StageError(f"{_shown(path)} is missing; run the {made_by} stage first")
    return json.loads(path.read_text(encoding="utf-8"))


def _shown(path: Path) -> str:
    """A path relative to the checkout when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _families(text: str) -> list[str]:
    return sorted({part.strip() for part in text.split(",") if part.strip()})


# -- photos ---------------------------------------------------------------------------------------


def stage_photos(args: argparse.Namespace) -> dict[str, Any]:
    """Fetch the Debian packages, normalise the curated photos, split them by scene.

    Writes ``photos-<max side>/`` in the cache (the normalised JPEGs) and ``photos.json``: per
    photo its key, scene group, split, file, SHA-256, size, origin and licence.
    """
    from fakescope.training.photos import (
        DEFAULT_MAX_SIDE,
        collect_photos,
        fetch_debian_packages,
        split_photos,
    )

    deb_root = fetch_debian_packages(args.cache, local_debs=args.debs)
    photos = collect_photos(
        args.cache / f"photos-{DEFAULT_MAX_SIDE}", deb_root=deb_root, max_side=DEFAULT_MAX_SIDE
    )
    split = split_photos(photos, seed=args.split_seed)
    rows = []
    for name, members in (
        ("train", split.train),
        ("validation", split.validation),
        ("heldout", split.heldout),
    ):
        for photo in members:
            rows.append(
                {
                    "key": photo.key,
                    "group": photo.group,
                    "split": name,
                    "file": _shown(photo.path),
                    "sha256": _sha256(photo.path),
                    "width": photo.width,
                    "height": photo.height,
                    "origin": photo.source.origin,
                    "licence": photo.source.licence,
                }
            )
    rows.sort(key=lambda row: row["key"])
    result = {"split_seed": args.split_seed, "max_side": DEFAULT_MAX_SIDE, "photos": rows}
    _write_json(args.out, result)
    counts = Counter(row["split"] for row in rows)
    return {"photos": len(rows), **{f"split.{k}": v for k, v in sorted(counts.items())}}


# -- dataset --------------------------------------------------------------------------------------


def check_manifest(generated: Path, verify: bool = True) -> list[dict[str, Any]]:
    """The generated cache's manifest records, each listed file present (and, with ``verify``,
    with the SHA-256 the manifest records).

    Raises:
        StageError: no manifest, a line that is not a record, a missing or changed file.
    """
    manifest = generated / "manifest.jsonl"
    if not manifest.is_file():
        raise StageError(
            f"{_shown(manifest)} is missing; run the generate stage (scripts/generate_fakes.py)"
        )
    records = []
    checked: set[str] = set()
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            files = [(str(record["fake"]), str(record["sha256"]))]
            if record.get("real"):
                files.append((str(record["real"]), str(record["real_sha256"])))
            str(record["split"]), str(record["family"]), str(record["generator"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StageError(f"{_shown(manifest)}:{number} is not a manifest record ({exc})")
        for name, digest in files:
            if name in checked:
                continue
            path = generated / name
            if not path.is_file():
                raise StageError(f"{_shown(path)} is listed in the manifest but missing")
            if verify and _sha256(path) != digest:
                raise StageError(
                    f"{_shown(path)} does not have the SHA-256 its manifest records: the cache "
                    "is damaged; delete the file and run the generate stage again"
                )
            checked.add(name)
        records.append(record)
    return records


def stage_dataset(args: argparse.Namespace) -> dict[str, Any]:
    """Check the generated cache against the photo split and summarise what training will see.

    Checks: every file the manifest lists is there with its recorded hash; no train or
    validation record comes from a held-out photo (nor a held-out record from a training
    photo); every held-out family is in the cache (or the unseen figure would be empty); every
    family left for training has train and validation images.

    Writes ``dataset.json``: per family and generator, images per split, seen or unseen.
    """
    photos = _read_json(args.photos, "photos")
    split_of = {row["key"]: row["split"] for row in photos["photos"]}
    records = check_manifest(args.generated, verify=not args.no_verify)
    held_out = _families(args.hold_out)
    leaks = sorted(
        {
            f"{r['photo']} ({r['split']} record, {split_of.get(r['photo'], 'unknown')} photo)"
            for r in records
            if r.get("photo") is not None and split_of.get(r["photo"]) != r["split"]
        }
    )
    if leaks:
        raise StageError(
            "the generated cache does not follow the photo split: "
            + ", ".join(leaks[:5])
            + (f" and {len(leaks) - 5} more" if len(leaks) > 5 else "")
            + "; regenerate it (scripts/generate_fakes.py) from this split"
        )
    families = sorted({str(r["family"]) for r in records})
    missing = [f for f in held_out if f not in families]
    if missing:
        raise StageError(
            f"held-out famil{'ies' if len(missing) > 1 else 'y'} {', '.join(missing)} not in "
            f"the generated cache (it has {', '.join(families) or 'none'}): the unseen figure "
            "would be empty"
        )
    per_generator: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = per_generator.setdefault(
            str(record["generator"]),
            {"family": str(record["family"]), "seen": str(record["family"]) not in held_out},
        )
        entry[str(record["split"])] = entry.get(str(record["split"]), 0) + 1
    seen = [f for f in families if f not in held_out]
    thin = [
        family
        for family in seen
        for split in ("train", "validation")
        if not any(e["family"] == family and e.get(split, 0) > 0 for e in per_generator.values())
    ]
    if thin:
        raise StageError(
            f"famil{'ies' if len(set(thin)) > 1 else 'y'} {', '.join(sorted(set(thin)))} "
            "have no train or no validation images; generate more or hold them out"
        )
    reals = {str(r["real"]): str(r["split"]) for r in records if r.get("real")}
    totals = {
        "records": len(records),
        "real_twins": dict(sorted(Counter(reals.values()).items())),
        "fakes_seen": sum(1 for r in records if str(r["family"]) not in held_out),
        "fakes_unseen": sum(1 for r in records if str(r["family"]) in held_out),
    }
    summary = {
        "hold_out": held_out,
        "seen_families": seen,
        "totals": totals,
        "generators": dict(sorted(per_generator.items())),
    }
    _write_json(args.out, summary)
    return {"records": len(records), "seen families": len(seen), "held out": held_out}


# -- evaluate -------------------------------------------------------------------------------------


def stage_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Score the trained folder with the serving Predictor on the held-out photos.

    The figures are measured again from the saved files (not copied from training), so the stage
    checks what will ship; the clean / web / hard report on real generators' output is the one
    training measured (``generator_report`` in the model's metrics.json, also made by the
    serving Predictor). Writes DVC metrics (``evaluation.json``), the per-epoch history
    (``history.json``, a DVC plot) and the report table (``report.md``).
    """
    from fakescope.config import Settings
    from fakescope.model import check_model_folder
    from fakescope.training.evaluate import (
        check_targets,
        evaluate_images,
        heldout_images,
        predictor_scores,
    )
    from fakescope.training.tracking import report_metrics

    check_model_folder(args.model)
    trained = _read_json(args.model / "metrics.json", "train")
    photos = _read_json(args.photos, "photos")
    held_out = [ROOT / row["file"] for row in photos["photos"] if row["split"] == "heldout"]
    for path in held_out:
        if not path.is_file():
            raise StageError(f"{_shown(path)} is missing; run the photos stage again")
    # Default settings, not the environment's: the figures must not depend on who runs them.
    settings = Settings().replace(precision="fp32")
    images = heldout_images(held_out, seed=int(photos.get("split_seed", 0)))
    measured = evaluate_images(images, predictor_scores(args.model, settings))
    targets = check_targets(measured)
    generator_targets = trained.get("generator_targets") or {}
    rows = trained.get("generator_report") or []
    nested: dict[str, Any] = {}
    for key, value in report_metrics(rows).items():
        node = nested
        *parents, leaf = key.split(".")[1:]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    evaluation = {
        "heldout": {
            key: measured[key]
            for key in ("accuracy", "roc_auc", "ece", "brier")
            if isinstance(measured.get(key), (int, float))
        },
        "heldout_fpr": {
            name: rates["false_positive_rate"]
            for name, rates in measured["conditions"].items()
            if "false_positive_rate" in rates
        },
        "report": nested,
        "targets_met": all(check["passed"] for check in targets.values()),
        "generator_targets_met": all(
            bool(check.get("passed")) for check in generator_targets.values()
        ),
        # The same photos and seeds as training's own evaluation: a difference means the saved
        # files do not score as they did when training wrote metrics.json.
        "accuracy_matches_training": abs(
            float(measured["accuracy"]) - float(trained.get("accuracy", float("nan")))
        )
        < 1e-9,
        "images": len(images),
        "mlflow_run_id": (trained.get("training") or {}).get("mlflow_run_id"),
    }
    _write_json(args.out, evaluation)
    history = (trained.get("training") or {}).get("history") or []
    _write_json(args.history, history)
    _write_report(args.report, args.model, measured, targets, rows, generator_targets)
    return {
        "accuracy": round(float(measured["accuracy"]), 4),
        "targets met": evaluation["targets_met"],
        "report rows": len(rows),
    }


def _write_report(
    path: Path,
    model: Path,
    measured: dict[str, Any],
    targets: dict[str, Any],
    rows: Sequence[dict[str, Any]],
    generator_targets: dict[str, Any],
) -> None:
    lines = [
        f"# Evaluation of {_shown(model)}",
        "",
        f"Held-out photos, serving Predictor (fp32): accuracy {measured['accuracy']:.4f}, "
        f"ROC AUC {measured['roc_auc']:.4f}.",
        "",
        "| target | value | limit | passed |",
        "|---|---|---|---|",
    ]
    for name, check in {**targets, **generator_targets}.items():
        value = check.get("value")
        shown = f"{value:.4f}" if isinstance(value, (int, float)) else str(value)
        lines.append(f"| {name} | {shown} | {check.get('limit')} | {check.get('passed')} |")
    if rows:
        from fakescope.training.report import ReportRow, report_table

        fields = set(ReportRow.__dataclass_fields__)
        try:
            table = report_table(
                [ReportRow(**{k: v for k, v in r.items() if k in fields}) for r in rows]
            )
        except TypeError:  # rows of another report version: the JSON in metrics.json has them
            table = "(the report rows do not match fakescope.training.report.ReportRow)"
        lines += ["", "## Real generators: clean / web / hard", "", "```", table, "```"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- export ---------------------------------------------------------------------------------------


def stage_export(args: argparse.Namespace) -> dict[str, Any]:
    """Register the trained folder as a new registry version (once per set of model files).

    A folder whose model files are already a version (same SHA-256 of every file) is not
    registered again: the stage reports that version. With ``--require-targets`` a model that
    missed a target of the evaluation is not registered.
    """
    from fakescope.model import check_model_folder, files_sha256
    from fakescope.registry import Registry

    check_model_folder(args.model)
    evaluation = _read_json(args.evaluation, "evaluate")
    if args.require_targets and not (
        evaluation.get("targets_met") and evaluation.get("generator_targets_met", True)
    ):
        raise StageError(
            f"the model missed a target (see {_shown(REPORT_MD)}); not exported. Drop "
            "--require-targets (params.yaml: export.require_targets) to register it anyway"
        )
    registry = Registry(args.registry)
    manifest = files_sha256(args.model)
    existing = next((v for v in registry.versions() if v.files_sha256 == manifest), None)
    if existing is not None:
        info, created = existing, False
    else:
        info = registry.register(args.model, notes=args.notes, activate=args.activate)
        created = True
    result = {
        "version": info.version,
        "created": created,
        "activated": bool(args.activate and created),
        "weights_sha256": info.weights_sha256,
        "mlflow_run_id": info.mlflow_run_id,
    }
    _write_json(args.out, result)
    return {k: result[k] for k in ("version", "created", "mlflow_run_id")}


# -- command line ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The ``pipeline.py`` command line: one sub-command per stage."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="stages: " + ", ".join(STAGES)
    )
    stages = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")

    photos = stages.add_parser("photos", help="fetch, normalise and split the photo pool")
    photos.add_argument("--cache", type=Path, default=PHOTO_CACHE, help="photo cache folder")
    photos.add_argument("--debs", type=Path, action="append", default=[], help="folder of .debs")
    photos.add_argument("--split-seed", type=int, default=0, help="scene split seed (0: v1's)")
    photos.add_argument("--out", type=Path, default=PHOTOS_JSON)
    photos.set_defaults(run=stage_photos)

    dataset = stages.add_parser("dataset", help="check and summarise the generated training set")
    dataset.add_argument("--generated", type=Path, default=GENERATED_DIR)
    dataset.add_argument("--photos", type=Path, default=PHOTOS_JSON)
    dataset.add_argument("--hold-out", default="dcgan", help="comma-separated held-out families")
    dataset.add_argument("--no-verify", action="store_true", help="skip the SHA-256 checks")
    dataset.add_argument("--out", type=Path, default=DATASET_JSON)
    dataset.set_defaults(run=stage_dataset)

    evaluate = stages.add_parser("evaluate", help="score the trained model on held-out photos")
    evaluate.add_argument("--model", type=Path, default=MODEL_DIR)
    evaluate.add_argument("--photos", type=Path, default=PHOTOS_JSON)
    evaluate.add_argument("--out", type=Path, default=EVALUATION_JSON)
    evaluate.add_argument("--history", type=Path, default=HISTORY_JSON)
    evaluate.add_argument("--report", type=Path, default=REPORT_MD)
    evaluate.set_defaults(run=stage_evaluate)

    export = stages.add_parser("export", help="register the trained model as a new version")
    export.add_argument("--model", type=Path, default=MODEL_DIR)
    export.add_argument("--registry", type=Path, default=ROOT / "models")
    export.add_argument("--evaluation", type=Path, default=EVALUATION_JSON)
    export.add_argument("--activate", action="store_true", help="make the new version active")
    export.add_argument(
        "--require-targets", action="store_true", help="refuse a model that missed a target"
    )
    export.add_argument("--notes", default="built by the DVC pipeline (dvc repro)")
    export.add_argument("--out", type=Path, default=EXPORT_JSON)
    export.set_defaults(run=stage_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one stage; print what it made as one JSON line."""
    args = build_parser().parse_args(argv)
    try:
        summary = args.run(args)
    except (StageError, FakeScopeError, OSError) as exc:
        print(f"pipeline {args.stage}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"stage": args.stage, **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
