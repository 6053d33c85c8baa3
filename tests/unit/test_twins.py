"""Training and report data from the generated cache (issue 10): manifest reading, splits, the
shared everyday handling, balanced epochs and the report set."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fakescope.errors import TrainingError
from fakescope.training import report, twins

pytestmark = pytest.mark.unit


def _png(path: Path, seed: int, side: int = 80) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(path)


def make_cache(root: Path, *, photos: int = 3) -> Path:
    """A tiny generated cache: per split, ``photos`` real twins, two upscalers' twins each, and
    two DCGAN samples (which have no real twin)."""
    lines = []
    seed = 0
    for split in twins.SPLITS:
        for photo in range(photos):
            real = f"reals/{split}/p{photo}.png"
            _png(root / real, seed := seed + 1)
            for generator, family in (("up-a", "fam-a"), ("up-b", "fam-b")):
                fake = f"{generator}/{split}/p{photo}.png"
                _png(root / fake, seed := seed + 1)
                lines.append(
                    {"split": split, "fake": fake, "real": real, "generator": generator}
                    | {"family": family, "kind": "twin"}
                )
        for sample in range(2):
            fake = f"gan/{split}/s{sample}.png"
            _png(root / fake, seed := seed + 1, side=64)
            lines.append(
                {"split": split, "fake": fake, "generator": "gan", "family": "dcgan"}
                | {"kind": "sample"}
            )
    text = "\n".join(json.dumps(line) for line in lines) + "\n"
    (root / twins.MANIFEST).write_text(text, encoding="utf-8")
    return root


def test_read_generated_lists_each_real_once_and_every_fake(tmp_path: Path) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    reals = [i for i in images if i.label == 0]
    fakes = [i for i in images if i.label == 1]
    assert len(reals) == 3 * 3  # three photos per split, shared by both upscalers
    assert len(fakes) == 3 * (3 * 2 + 2)
    assert {i.family for i in fakes} == {"fam-a", "fam-b", "dcgan"}
    assert all(i.generator == report.REAL and i.family == "" for i in reals)
    assert twins.families_of(images) == ["dcgan", "fam-a", "fam-b"]


def test_read_generated_skips_a_listed_file_that_is_missing(tmp_path: Path) -> None:
    root = make_cache(tmp_path)
    (root / "up-a" / "train" / "p0.png").unlink()
    names = {i.name for i in twins.read_generated(root)}
    assert "up-a/train/p0.png" not in names and "up-b/train/p0.png" in names


def test_read_generated_says_how_to_make_a_missing_cache(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="generate_fakes.py"):
        twins.read_generated(tmp_path)


def test_read_generated_names_the_broken_manifest_line(tmp_path: Path) -> None:
    root = make_cache(tmp_path)
    with (root / twins.MANIFEST).open("a", encoding="utf-8") as manifest:
        manifest.write('{"split": "train"}\n')
    with pytest.raises(TrainingError, match=r"manifest.jsonl:\d+ is not a manifest record"):
        twins.read_generated(root)


def test_select_keeps_the_split_and_the_families_asked_for(tmp_path: Path) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    chosen = twins.select(images, "validation", families=["fam-a"])
    assert {i.split for i in chosen} == {"validation"}
    assert {i.generator for i in chosen} == {report.REAL, "up-a"}
    assert not [i for i in twins.select(images, "train", with_reals=False) if i.label == 0]


def test_everyday_handling_is_seeded_and_covers_every_step() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8))
    first = [twins.everyday_handling(image, np.random.default_rng(s))[1] for s in range(300)]
    again = [twins.everyday_handling(image, np.random.default_rng(s))[1] for s in range(300)]
    assert first == again
    steps = " ".join(first)
    for step in ("clean", "down", "up2.00", "blur", "jpeg"):
        assert step in steps, step
    # A quarter untouched by default, and never with clean_share=0.
    assert 0.15 < first.count("clean") / len(first) < 0.35
    none_clean = [
        twins.everyday_handling(image, np.random.default_rng(s), clean_share=0.0)[1]
        for s in range(100)
    ]
    assert none_clean.count("clean") < 10  # only when every optional step was skipped


def test_generated_epoch_is_balanced_deterministic_and_trains_only_on_asked_families(
    tmp_path: Path,
) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    kwargs = {"families": ["fam-a"], "crop_size": 32, "seed": 3, "epoch": 1}
    batch = twins.generated_epoch(images, **kwargs)
    again = twins.generated_epoch(images, **kwargs, cache={})
    assert batch.pixels.shape == (12, 32, 32, 3) and batch.pixels.dtype == np.uint8
    assert batch.labels.mean() == 0.5  # 3 training fakes of fam-a, 3 real draws, 2 crops each
    assert np.array_equal(batch.pixels, again.pixels)
    assert not np.array_equal(
        batch.pixels, twins.generated_epoch(images, **{**kwargs, "epoch": 2}).pixels
    )


def test_generated_epoch_needs_fakes_of_a_known_family(tmp_path: Path) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    with pytest.raises(TrainingError, match="0 fake training images"):
        twins.generated_epoch(images, families=["nope"], crop_size=32, seed=0, epoch=0)


def test_validation_images_balance_the_classes_from_the_validation_split(tmp_path: Path) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    val = twins.validation_images(images, families=["fam-a", "fam-b"], real_variants=2)
    labels = [v.label for v in val]
    assert labels.count(0) == 6 and labels.count(1) == 6  # 3 reals x 2, 6 fakes of 6
    assert all("/validation/" in v.name for v in val)
    assert [v.condition for v in val] == [
        v.condition
        for v in twins.validation_images(images, families=["fam-a", "fam-b"], real_variants=2)
    ]


def test_report_images_degrade_every_heldout_image_under_each_condition(tmp_path: Path) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    report_set = twins.report_images(images)
    heldout = [i for i in images if i.split == "heldout"]
    reals = sum(1 for i in heldout if i.label == 0)
    fakes = len(heldout) - reals
    expected = len(report.CONDITIONS) * (fakes + twins.REAL_SEEDS_PER_CONDITION * reals)
    assert len(report_set) == expected
    formats = {item.condition: Image.open(io.BytesIO(item.data)).format for item in report_set}
    assert formats == {"clean": "PNG", "web": "JPEG", "hard": "JPEG"}
    assert {i.name.split("/")[1] for i in report_set} == {"heldout"}
    limited = twins.report_images(images, per_generator=1)
    assert sum(1 for i in limited if i.generator == "gan") == len(report.CONDITIONS)


def test_score_report_marks_held_out_families_unseen(tmp_path: Path) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    report_set = twins.report_images(images)
    scored = twins.score_report(
        report_set,
        lambda batch: np.asarray([0.9 if len(b) else 0.0 for b in batch]),
        seen_families=["fam-a", "fam-b"],
    )
    assert len(scored) == len(report_set)
    assert {s.family for s in scored if not s.seen} == {"", "dcgan"}  # reals carry no family
    rows = report.generator_report(scored)
    assert {r.generator for r in rows if not r.seen} >= {"gan", "all unseen"}


def test_ordinary_resampling_keeps_the_size_and_removes_fine_detail() -> None:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (120, 96, 3), np.uint8))
    kinds = set()
    for seed in range(40):
        out, how = twins.ordinary_resampling(image, np.random.default_rng(seed))
        assert out.size == image.size
        kinds.add(how.rstrip("0123456789.").split("-")[0] if "-" not in how else "roundtrip")
        # Noise has all its energy at the finest scale: resampling must take most of it away.
        detail = np.abs(np.diff(np.asarray(out, dtype=float), axis=1)).mean()
        assert detail < 0.6 * np.abs(np.diff(np.asarray(image, dtype=float), axis=1)).mean()
    assert kinds == {"roundtrip", "blur"}


def test_generated_epoch_resamples_only_reals(tmp_path: Path, monkeypatch) -> None:
    images = twins.read_generated(make_cache(tmp_path))
    calls = []
    original = twins.ordinary_resampling

    def spy(image, rng):
        calls.append(image.size)
        return original(image, rng)

    monkeypatch.setattr(twins, "ordinary_resampling", spy)
    kwargs = {"families": ["fam-a", "fam-b"], "crop_size": 32, "seed": 0, "epoch": 0}
    twins.generated_epoch(images, **kwargs, resampled_real_share=1.0)
    assert len(calls) == 6  # one per real draw (6 fakes in training), none for a fake
    calls.clear()
    twins.generated_epoch(images, **kwargs, resampled_real_share=0.0)
    assert calls == []
