"""Build FakeScope's demo model from a fresh clone: photos, simulated fakes, training, evaluation.

    python scripts/build_demo_model.py                      # train into build/demo-model/
    python scripts/build_demo_model.py --export             # ... and refresh the committed
                                                            # held-out photos and sample images

Steps: fetch the three Debian packages (apt-get download + dpkg-deb -x, never installed) into
``build/photo-cache/``, normalise the curated photos, split them by scene, train the small ResNet
on simulated fakes, calibrate it, and evaluate it with the serving Predictor on the held-out
photos. ``--export`` copies the held-out photos to ``tests/quality/heldout_photos/`` and makes the
dashboard's sample images in ``src/fakescope/samples/`` (from held-out photos only).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
from pathlib import Path

from PIL import Image

from fakescope.config import Settings
from fakescope.training.evaluate import TARGETS, condition_seed
from fakescope.training.photos import (
    DEFAULT_MAX_SIDE,
    CollectedPhoto,
    collect_photos,
    fetch_debian_packages,
    split_photos,
)
from fakescope.training.simulate import simulate_fake
from fakescope.training.train import DEFAULT_HELD_OUT, DEMO_EPOCHS, train_model

ROOT = Path(__file__).resolve().parents[1]
HELDOUT_DIR = ROOT / "tests" / "quality" / "heldout_photos"
SAMPLES_DIR = ROOT / "src" / "fakescope" / "samples"
SAMPLE_SIDE = 320  # fake samples are cut to this size first, so a PNG stays well under 300 KB
MAX_SAMPLE_BYTES = 300_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "demo-model")
    parser.add_argument("--cache", type=Path, default=ROOT / "build" / "photo-cache")
    parser.add_argument(
        "--debs",
        type=Path,
        action="append",
        default=[],
        help="folder that may already hold the .deb files (repeatable)",
    )
    parser.add_argument(
        "--generated",
        type=Path,
        default=None,
        help="cache of real generator output (scripts/generate_fakes.py); omit for the simulated "
        "recipe only",
    )
    parser.add_argument(
        "--hold-out",
        default=",".join(DEFAULT_HELD_OUT),
        help="comma-separated generator families kept out of training (reported as unseen)",
    )
    parser.add_argument(
        "--simulated-share",
        type=float,
        default=0.2,
        help="with --generated: share of fakes replaced by simulated traces",
    )
    parser.add_argument("--epochs", type=int, default=DEMO_EPOCHS)
    parser.add_argument(
        "--base",
        default=None,
        help="continue from this model folder (a first stage's output) instead of from scratch",
    )
    parser.add_argument("--learning-rate", type=float, default=2e-3, help="AdamW one-cycle peak")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="stop after the epoch that passes this many seconds",
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="refresh tests/quality/heldout_photos and src/fakescope/samples",
    )
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="skip training: export the held-out photos and samples (with --generated: real "
        "generators' output) and measure them with the model already in --output",
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--no-tracking",
        action="store_true",
        help="do not record the run in MLflow (FAKESCOPE_DATA_DIR/mlflow.db)",
    )
    return parser.parse_args(argv)


def held_out_photos(cache: Path, debs: list[Path], seed: int = 0) -> list[CollectedPhoto]:
    """The held-out photos of the split the training run uses (split seed 0)."""
    deb_root = fetch_debian_packages(cache, local_debs=debs)
    photos = collect_photos(
        cache / f"photos-{DEFAULT_MAX_SIDE}", deb_root=deb_root, max_side=DEFAULT_MAX_SIDE
    )
    return list(split_photos(photos, seed=seed).heldout)


def export_heldout(photos: list[CollectedPhoto]) -> None:
    """Copy the held-out photos (bytes unchanged) and write SOURCES.md beside them."""
    HELDOUT_DIR.mkdir(parents=True, exist_ok=True)
    for old in HELDOUT_DIR.glob("*.jpg"):
        old.unlink()
    lines = [
        "# Held-out photos of the demo model",
        "",
        "Never used for training or validation (the split is by scene: "
        "`fakescope.training.photos.split_photos`, seed 0). Each was normalised once by "
        "`fakescope.training.photos.normalize_photo` (longest side <= 768 px, Lanczos) and stored "
        "as JPEG quality 95 without chroma subsampling. The quality test builds its real and fake "
        "conditions from these files.",
        "",
        "| file | comes from | path in the package | licence |",
        "|---|---|---|---|",
    ]
    for photo in photos:
        shutil.copyfile(photo.path, HELDOUT_DIR / photo.path.name)
        src = photo.source
        where = (
            f"Debian package `{src.origin}`" if src.is_debian else f"Python package `{src.origin}`"
        )
        lines.append(f"| {photo.path.name} | {where} | `{src.path}` | {src.licence} |")
    (HELDOUT_DIR / "SOURCES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


# One held-out output of each, for the dashboard's samples: a GAN upscaler, an L1 upscaler, a
# U-Net upscaler, the style-transfer network and the held-out DCGAN.
SAMPLE_GENERATORS = (
    "realesrgan-x4plus",
    "span-x4-ch48",
    "realcugan-se-x2",
    "styletransfer-multistyle26",
    "dcgan-digiface",
)


def export_samples(
    photos: list[CollectedPhoto], generated: Path | None, count: int = 4
) -> list[tuple[str, str]]:
    """Make ``count`` real samples and the fake samples, from held-out data only.

    Reals are held-out photos as stored. Fakes are real generators' held-out output (one per
    generator in :data:`SAMPLE_GENERATORS`, each from a different photo) when ``generated`` is
    given, else simulated fakes of centre crops (the v1 samples). Names say the truth and the
    generator: ``fake_<photo or seed>_<generator>.png``.

    Returns:
        (file name, description) per sample.
    """
    SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
    for old in list(SAMPLES_DIR.glob("real_*")) + list(SAMPLES_DIR.glob("fake_*")):
        old.unlink()
    ordered = sorted(photos, key=lambda p: p.key)
    # Spread over the sorted list (sources differ), reals and fakes from different photos.
    reals = [p for p in ordered[0::5] if p.path.stat().st_size < MAX_SAMPLE_BYTES][:count]
    written = []
    for photo in reals:
        name = f"real_{photo.key}.jpg"
        shutil.copyfile(photo.path, SAMPLES_DIR / name)
        written.append((name, f"held-out photo `{photo.source.path}` ({photo.source.origin})"))
    if generated is not None:
        return written + _generated_samples(generated, {p.key for p in reals})
    for index, photo in enumerate(ordered[2::5][:count]):
        with Image.open(photo.path) as opened:
            image = opened.convert("RGB")
        side = min(SAMPLE_SIDE, image.width, image.height)
        left, top = (image.width - side) // 2, (image.height - side) // 2
        crop = image.crop((left, top, left + side, top + side))
        kind = ("transposed", "bilinear", "decoder", "nearest")[index % 4]
        fake, recipe = simulate_fake(crop, condition_seed(photo.key, "sample"), kind=kind)
        name = f"fake_{photo.key}_{kind}.png"
        fake.save(SAMPLES_DIR / name, optimize=True)
        written.append(
            (
                name,
                f"simulated fake ({recipe.name}) of a {side} px centre crop of held-out photo "
                f"`{photo.source.path}` ({photo.source.origin})",
            )
        )
    return written


def _generated_samples(generated: Path, used_photos: set[str]) -> list[tuple[str, str]]:
    """One held-out output per sample generator, each of a photo no other sample shows."""
    records = [
        json.loads(line)
        for line in (generated / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    written = []
    for generator in SAMPLE_GENERATORS:
        candidates = sorted(
            (r for r in records if r["generator"] == generator and r["split"] == "heldout"),
            key=lambda r: r["fake"],
        )
        record = next((r for r in candidates if r.get("photo", r["key"]) not in used_photos), None)
        if record is None:
            raise SystemExit(f"no held-out output of {generator} in {generated}")
        source = record.get("photo") or f"seed{record.get('seed', record['key'])}"
        used_photos.add(source)
        name = f"fake_{source}_{generator}.png"
        with Image.open(generated / record["fake"]) as opened:
            opened.convert("RGB").save(SAMPLES_DIR / name, optimize=True)
        scale = record["params"].get("scale")
        if record.get("kind") != "twin":
            what = f"{generator} output ({record['width']} px, held-out seed {record.get('seed')})"
        elif scale:
            what = (
                f"a {record['width']} px crop of held-out photo `{source}`, shrunk {scale}x and "
                f"brought back by {generator}"
            )
        else:
            what = (
                f"a {record['width']} px crop of held-out photo `{source}`, restyled by {generator}"
            )
        written.append((name, f"{what} ({record['package']} {record['version']})"))
    return written


def write_samples_doc(samples: list[tuple[str, str]], model_dir: Path) -> None:
    """SAMPLES.md: where each sample came from and what the demo model answers."""
    verdicts: dict[str, str] = {}
    if (model_dir / "model.safetensors").is_file():
        from fakescope.predictor import Predictor

        predictor = Predictor.from_source(
            str(model_dir), Settings.from_env().replace(precision="fp32")
        )
        for name, _ in samples:
            prediction = predictor.predict([SAMPLES_DIR / name], with_features=False)[0]
            verdicts[name] = f"{prediction.verdict} ({prediction.fake_probability:.2f})"
    lines = [
        "# Sample images",
        "",
        'Shown by the dashboard\'s "Try sample images". The name says the truth: `real_*` are '
        "photographs, `fake_*` are generator output, the generator last in the name (real "
        "generators with `--generated`, the v1 simulation otherwise). All come from the demo "
        "model's held-out photos or seeds (never trained on); see "
        "`tests/quality/heldout_photos/SOURCES.md` for the photos' licences and "
        "`docs/generators.md` for the generators'. Made by `python scripts/build_demo_model.py "
        "--export-only --generated build/generated --output models/v2`.",
        "",
        "| file | what it is | demo model's verdict (fake probability) |",
        "|---|---|---|",
    ]
    for name, description in samples:
        lines.append(f"| {name} | {description} | {verdicts.get(name, 'not measured')} |")
    (SAMPLES_DIR / "SAMPLES.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def export(args: argparse.Namespace) -> None:
    """Refresh the committed held-out photos and the samples, measured with ``args.output``."""
    photos = held_out_photos(args.cache, args.debs)
    export_heldout(photos)
    write_samples_doc(export_samples(photos, args.generated), args.output)
    print(f"exported {len(photos)} held-out photos and the sample images")


def main(argv: list[str] | None = None) -> int:
    """Train the demo model, print its held-out figures, optionally export photos and samples."""
    args = parse_args(argv)
    if args.export_only:
        export(args)
        return 0
    command = "python scripts/build_demo_model.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    result = train_model(
        None,
        args.output,
        demo=True,
        epochs=args.epochs,
        base=args.base,
        learning_rate=args.learning_rate,
        seed=args.seed,
        photo_cache_dir=args.cache,
        local_debs=args.debs,
        generated_dir=args.generated,
        held_out_families=tuple(f for f in args.hold_out.split(",") if f),
        simulated_share=args.simulated_share,
        tracking_dir=Settings.from_env().data_dir,
        tracking_enabled=False if args.no_tracking else None,
        num_threads=args.threads,
        time_budget_s=args.time_budget,
        progress=not args.no_progress,
        command=command.strip(),
    )
    metrics = result.metrics
    summary = {
        "accuracy": metrics["accuracy"],
        "roc_auc": metrics["roc_auc"],
        "fpr": {
            name: rates["false_positive_rate"]
            for name, rates in metrics["conditions"].items()
            if rates["label"] == 0
        },
        "targets_met": {name: check["passed"] for name, check in metrics["targets"].items()},
        "train_seconds": round(result.train_seconds, 1),
        "model_bytes": result.model_bytes,
        "temperature": round(result.temperature, 4),
    }
    print(json.dumps(summary, indent=2))
    print(f"targets: {TARGETS}")
    if "generator_targets" in metrics:
        print(json.dumps(metrics["generator_targets"], indent=2))
    if args.export:
        export(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
