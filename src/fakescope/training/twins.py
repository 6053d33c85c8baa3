"""Training, validation and report data from the cached real-generator outputs (issue 10).

``scripts/generate_fakes.py`` writes real generator output into ``build/generated/``: for
upscalers an *aligned twin* per photo crop (the real crop, and the same crop shrunk and brought back
by the network), for samplers (DCGAN) new images from seeds, with one ``manifest.jsonl`` line per
output. This module turns that cache into:

* training epochs (:func:`generated_epoch`): fakes of the families the model may see, and the real
  twins, both put through the same everyday handling (:func:`everyday_handling`: resizing with
  ordinary filters, a 2x upscale included, blur, JPEG 50-95), so neither the JPEG grid nor
  smoothness tells the classes apart, only the generator's traces do;
* validation images (:func:`validation_images`), for the best epoch and the temperature;
* the report set (:func:`report_images`): the held-out photos' twins and every generator's
  held-out output under the ``clean`` / ``web`` / ``hard`` conditions of
  :mod:`fakescope.training.report`, families held out of training marked unseen.

Splits come from the manifest (photos split by scene, samplers by seed), so the report never sees a
photo the model trained on.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fakescope.errors import TrainingError
from fakescope.training.dataset import CropBatch, augment, open_rgb, random_crop
from fakescope.training.evaluate import EvalImage
from fakescope.training.report import CONDITIONS, REAL, ScoredImage, degrade
from fakescope.training.simulate import decode, encode_jpeg, gaussian_blur, simulate_fake

MANIFEST = "manifest.jsonl"
SPLITS = ("train", "validation", "heldout")
REAL_SEEDS_PER_CONDITION = 2  # reals are scored twice per condition: a steadier FPR

_RESIZE_FILTERS = (
    Image.Resampling.BILINEAR,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
)


@dataclass(frozen=True)
class GeneratedImage:
    """One file of the generated cache.

    Attributes:
        path: the PNG file.
        label: 0 for a real twin, 1 for a generator's output.
        generator: the generator's name, or ``real``.
        family: the generator's family (``""`` for reals).
        split: ``train``, ``validation`` or ``heldout``.
        name: the file's path inside the cache (a stable key).
    """

    path: Path
    label: int
    generator: str
    family: str
    split: str
    name: str


def read_generated(root: Path) -> list[GeneratedImage]:
    """Every real twin (once) and every generator output listed in ``root/manifest.jsonl``.

    Outputs whose file is missing are left out (a stopped run may have written the line only).

    Raises:
        TrainingError: no manifest, or a line that is not a manifest record.
    """
    root = Path(root)
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise TrainingError(
            f"no generated data at {root} (missing {MANIFEST}); make it with "
            "`python scripts/generate_fakes.py` (see docs/generators.md)"
        )
    images: dict[str, GeneratedImage] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            split, fake = str(record["split"]), str(record["fake"])
            entries = [(fake, 1, str(record["generator"]), str(record["family"]))]
            if record.get("real"):
                entries.append((str(record["real"]), 0, REAL, ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise TrainingError(f"{manifest}:{number} is not a manifest record ({exc})") from exc
        for name, label, generator, family in entries:
            path = root / name
            if name not in images and path.is_file():
                images[name] = GeneratedImage(path, label, generator, family, split, name)
    return sorted(images.values(), key=lambda item: item.name)


def select(
    images: Iterable[GeneratedImage],
    split: str,
    *,
    families: Iterable[str] | None = None,
    with_reals: bool = True,
) -> list[GeneratedImage]:
    """The images of one split: reals (if asked) and the fakes of ``families`` (None: all)."""
    allowed = None if families is None else set(families)
    return [
        item
        for item in images
        if item.split == split
        and (
            (item.label == 0 and with_reals)
            or (item.label == 1 and (allowed is None or item.family in allowed))
        )
    ]


def families_of(images: Iterable[GeneratedImage]) -> list[str]:
    """The generator families present, sorted."""
    return sorted({item.family for item in images if item.label == 1})


def everyday_handling(
    image: Image.Image, rng: np.random.Generator, clean_share: float = 0.25
) -> tuple[Image.Image, str]:
    """What happens to any picture on its way to a user, applied alike to reals and fakes.

    ``clean_share`` of the time nothing; otherwise maybe a resize (down 0.5-0.95x, or up 1.1-2x with
    an ordinary filter, an exact 2x bicubic or Lanczos upscale among them), maybe a mild blur, and
    JPEG quality 50-95 most of the time. Because both classes get it, "has a JPEG grid", "is
    smooth" or "was interpolated" say nothing about the label.

    Returns:
        (the handled image, a short description such as ``up2.00+jpeg71``; ``clean`` if none).
    """
    image = image.convert("RGB")
    if rng.random() < clean_share:
        return image, "clean"
    steps = []
    roll = rng.random()
    if roll < 0.3:
        factor = float(rng.uniform(0.5, 0.95))
        steps.append(f"down{factor:.2f}")
    elif roll < 0.55:
        factor = 2.0 if rng.random() < 0.5 else float(rng.uniform(1.1, 1.9))
        steps.append(f"up{factor:.2f}")
    else:
        factor = 1.0
    if factor != 1.0:
        size = (max(32, round(image.width * factor)), max(32, round(image.height * factor)))
        image = image.resize(size, _RESIZE_FILTERS[int(rng.integers(len(_RESIZE_FILTERS)))])
    if rng.random() < 0.2:
        sigma = float(rng.uniform(0.4, 1.5))
        image = gaussian_blur(image, sigma)
        steps.append(f"blur{sigma:.2f}")
    if rng.random() < 0.75:
        quality = int(rng.integers(50, 96))
        image = decode(encode_jpeg(image, quality))
        steps.append(f"jpeg{quality}")
    return image, "+".join(steps) or "clean"


def ordinary_resampling(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """What ordinary software does to a real photo that makes it as smooth as an upscaler's
    output, without any network: shrink by 2-4x and enlarge back with an interpolation filter
    (an upscaled photo is still a photo), or a stronger blur. Applied to reals only: without it
    the detector learns "smooth means fake", and a 2x bicubic upscale of a photo is called fake.

    Returns:
        (the image, a description such as ``roundtrip3.1-bicubic`` or ``blur1.8``).
    """
    if rng.random() < 0.8:
        factor = float(rng.uniform(2.0, 4.0)) if rng.random() < 0.6 else 2.0
        small = (max(8, round(image.width / factor)), max(8, round(image.height / factor)))
        down = _RESIZE_FILTERS[int(rng.integers(len(_RESIZE_FILTERS)))]
        up_index = int(rng.integers(len(_RESIZE_FILTERS)))
        image = image.resize(small, down).resize(image.size, _RESIZE_FILTERS[up_index])
        return image, f"roundtrip{factor:.1f}-{_RESIZE_FILTERS[up_index].name.lower()}"
    sigma = float(rng.uniform(1.2, 2.5))
    return gaussian_blur(image, sigma), f"blur{sigma:.1f}"


def _region(pixels: np.ndarray, side: int, rng: np.random.Generator) -> Image.Image:
    """A random ``side`` px region of the pixels: handling a region, not the whole image, is what
    keeps an epoch fast (crops are cut from it afterwards)."""
    return Image.fromarray(random_crop(pixels, min(side, *pixels.shape[:2]), rng))


def _pixels(item: GeneratedImage, cache: dict[str, np.ndarray] | None) -> np.ndarray:
    """The decoded pixels of ``item`` (decoded once per run when a ``cache`` dict is given)."""
    if cache is None:
        return np.asarray(open_rgb(item.path), dtype=np.uint8)
    if item.name not in cache:
        cache[item.name] = np.asarray(open_rgb(item.path), dtype=np.uint8)
    return cache[item.name]


def generated_epoch(
    images: Sequence[GeneratedImage],
    *,
    families: Sequence[str],
    crop_size: int,
    seed: int,
    epoch: int,
    crops_per_image: int = 2,
    simulated_share: float = 0.0,
    clean_share: float = 0.25,
    resampled_real_share: float = 0.3,
    cache: dict[str, np.ndarray] | None = None,
) -> CropBatch:
    """One training epoch from the ``train`` split: every fake of ``families`` once, as many reals.

    Each fake gets a random region of ``2 * crop_size + 8`` px, a fresh
    :func:`everyday_handling` and ``crops_per_image`` random crops. Reals are drawn (with fresh
    handling each time) until the classes are balanced; ``resampled_real_share`` of them first go
    through :func:`ordinary_resampling` (interpolation round trips, strong blur), the hard
    negatives that teach "smooth is not fake". With ``simulated_share`` > 0 that share of the
    fakes is replaced by simulated generator traces
    (:func:`fakescope.training.simulate.simulate_fake`) made from real twins.

    Raises:
        TrainingError: no real or no fake training image.
    """
    rng = np.random.default_rng([seed, epoch, 10])
    fakes = select(images, "train", families=families, with_reals=False)
    reals = [item for item in images if item.split == "train" and item.label == 0]
    if not fakes or not reals:
        raise TrainingError(
            f"the generated cache has {len(reals)} real and {len(fakes)} fake training images "
            f"for families {', '.join(families) or '(none)'}; both are needed"
        )
    side = 2 * crop_size + 8  # still >= crop_size after a 0.5x resize
    crops: list[np.ndarray] = []
    labels: list[int] = []

    def add(image: Image.Image, label: int) -> None:
        handled = np.asarray(everyday_handling(image, rng, clean_share)[0], dtype=np.uint8)
        for _ in range(crops_per_image):
            crops.append(augment(random_crop(handled, crop_size, rng), rng))
            labels.append(label)

    for item in fakes:
        if rng.random() < simulated_share:
            real = _pixels(reals[int(rng.integers(len(reals)))], cache)
            add(simulate_fake(_region(real, side, rng), int(rng.integers(0, 2**31 - 1)))[0], 1)
        else:
            add(_region(_pixels(item, cache), side, rng), 1)
    for _ in range(len(fakes)):
        # A larger region for a real that will be resampled: a 4x round trip needs context.
        real = _pixels(reals[int(rng.integers(len(reals)))], cache)
        if rng.random() < resampled_real_share:
            add(ordinary_resampling(_region(real, 2 * side, rng), rng)[0], 0)
        else:
            add(_region(real, side, rng), 0)
    order = rng.permutation(len(labels))
    return CropBatch(pixels=np.stack(crops)[order], labels=np.asarray(labels)[order])


def validation_images(
    images: Sequence[GeneratedImage],
    *,
    families: Sequence[str],
    seed: int = 0,
    real_variants: int = 3,
) -> list[EvalImage]:
    """Validation reals (``real_variants`` handlings each, the third after
    :func:`ordinary_resampling`) and as many validation fakes.

    The fakes (of ``families`` only) are drawn evenly from every generator; the handling is seeded
    per image, so every epoch and every run sees the same set.
    """
    rng = np.random.default_rng([seed, 20])
    reals = [item for item in images if item.split == "validation" and item.label == 0]
    fakes = select(images, "validation", families=families, with_reals=False)
    wanted = min(len(fakes), len(reals) * real_variants)
    picked = [fakes[i] for i in sorted(rng.choice(len(fakes), wanted, replace=False))]
    result = []
    for item, variants in [(r, real_variants) for r in reals] + [(f, 1) for f in picked]:
        original = open_rgb(item.path)
        for variant in range(variants):
            rng_here = np.random.default_rng([seed, variant, _stable_seed(item.name)])
            source, how = original, ""
            if item.label == 0 and variant == 2:  # the third variant of a real: resampled
                source, resampled = ordinary_resampling(original, rng_here)
                how = resampled + "+"
            handled, handling = everyday_handling(source, rng_here)
            result.append(
                EvalImage(handled, item.label, f"{item.generator}:{how}{handling}", item.name)
            )
    return result


@dataclass(frozen=True)
class ReportImage:
    """One image of the clean / web / hard report set, encoded as it would be uploaded."""

    data: bytes
    generator: str
    family: str
    condition: str
    name: str

    @property
    def label(self) -> int:
        """0 for a real photo, 1 for a generator's output."""
        return 0 if self.generator == REAL else 1


def report_images(
    images: Sequence[GeneratedImage],
    *,
    split: str = "heldout",
    conditions: Sequence[str] = CONDITIONS,
    seed: int = 0,
    per_generator: int | None = None,
) -> list[ReportImage]:
    """The report set: every real twin and generator output of ``split`` under each condition.

    Reals are degraded with :data:`REAL_SEEDS_PER_CONDITION` seeds per condition. With
    ``per_generator`` only that many outputs per generator (the first by name) are used.
    """
    chosen = [item for item in images if item.split == split]
    if per_generator is not None:
        counts: dict[str, int] = {}
        kept = []
        for item in chosen:
            counts[item.generator] = counts.get(item.generator, 0) + 1
            if item.label == 0 or counts[item.generator] <= per_generator:
                kept.append(item)
        chosen = kept
    result = []
    for item in chosen:
        original = open_rgb(item.path)
        repeats = REAL_SEEDS_PER_CONDITION if item.label == 0 else 1
        for condition in conditions:
            for repeat in range(repeats):
                key = f"{seed}:{item.name}:{condition}:{repeat}"
                data = degrade(original, condition, _stable_seed(key))
                result.append(ReportImage(data, item.generator, item.family, condition, item.name))
    return result


def _stable_seed(text: str) -> int:
    return zlib.crc32(text.encode())


def score_report(
    report_set: Sequence[ReportImage],
    score: Callable[[Sequence[bytes]], np.ndarray],
    *,
    seen_families: Iterable[str],
    batch_size: int = 32,
) -> list[ScoredImage]:
    """Score the report set with ``score`` (the serving Predictor); mark each family seen or not."""
    seen = set(seen_families)
    probabilities = np.concatenate(
        [
            score([item.data for item in report_set[start : start + batch_size]])
            for start in range(0, len(report_set), batch_size)
        ]
        or [np.zeros(0)]
    )
    return [
        ScoredImage(
            generator=item.generator,
            family=item.family,
            seen=item.family in seen,
            condition=item.condition,
            fake_probability=float(p),
        )
        for item, p in zip(report_set, probabilities)
    ]


def provenance(root: Path) -> dict[str, dict[str, object]]:
    """Per generator in ``root/manifest.jsonl``: family, package, version and outputs per split
    (for the model card: every generator used is named with its package and version)."""
    about: dict[str, dict[str, object]] = {}
    outputs: dict[str, dict[str, int]] = {}
    for line in (Path(root) / MANIFEST).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        name = str(record["generator"])
        about.setdefault(
            name,
            {k: record.get(k) for k in ("family", "package", "version")},
        )
        counts = outputs.setdefault(name, {})
        counts[record["split"]] = counts.get(record["split"], 0) + 1
    return {name: {**about[name], "outputs": outputs[name]} for name in sorted(about)}
