"""Simulated traffic: a reproducible stream of images through the real predictor into the log.

For demonstrations and evaluations: the dashboard's Monitor charts fill up with feature
histograms that look like real use, an induced shift makes the drift alarm fire, and every image
carries its ground truth, so a caller can label the logged rows or measure the model on them.

**The pool** (:class:`ImagePool`): image files, each with its truth (``real`` / ``fake``) and a
group (the generator for a fake, the source folder for a real). It is built from

* ``--real DIR`` / ``--fake DIR`` (:meth:`ImagePool.from_folder`): every image file under the folder
  (``.jpg .jpeg .png .webp .bmp .tif .tiff .gif``; hidden files and folders skipped), all one
  group named after the folder;
* ``--pool DIR`` (:meth:`ImagePool.from_pool_folder`): a report set (a ``manifest.jsonl`` as
  ``scripts/export_report_set.py`` or ``scripts/generate_fakes.py`` writes it, e.g. the committed
  ``tests/quality/generated/``): each record's ``fake`` file is fake, grouped by its
  ``generator``, its ``real`` twin (if any) is real, group ``reals``; files the manifest lists but
  that are missing are left out, as :func:`fakescope.training.twins.read_generated` does. Or a
  folder with ``real/`` and ``fake/`` sub-folders (the layout ``fakescope train`` reads), each
  side one group named after the folder;
* nothing: the bundled samples (``fakescope/samples``), labelled by their names: ``real_*`` are
  photos (group ``samples``), ``fake_*`` generator output, the generator last in the name
  (``fake_cv_baboon_realesrgan-x4plus.png``: ``realesrgan-x4plus``).

Every file is opened when the pool is built (:func:`check_pool_images`); one that is not a usable
image stops it with a :class:`ConfigError` naming the file and what is accepted.

**The draws**: each image is fake with probability ``fake_share`` (default
:data:`DEFAULT_FAKE_SHARE` = 0.3 when the pool has both sides, else 0 or 1: the side there is),
then a group uniformly among that side's groups, then a file uniformly within the group, so one
big generator (or one big photo folder) does not crowd out the others. A share that needs a side
the pool lacks is refused. The drawn file is varied by a random crop (80-100 % of each side,
anywhere) and a random horizontal flip: sizes stay the source's own (give or take the crop), and
JPEG sources are re-encoded at the quality they were saved with (estimated from their tables), other
formats as PNG. The choices and the variations come from two generators spawned from one seed, so
a seed gives the same image bytes, hence the same predictions, on every run, and the first ``n``
images of a longer stream are the ``n`` images of a shorter one.

**Shifts** (``strength`` in (0, 1], default 0.5), applied after the variation:

* ``brightness``: pixel values multiplied by ``1 + strength`` (0.5: 1.5x brighter, clipped);
* ``blur``: Gaussian blur of radius ``4 * strength`` px (0.5: 2 px);
* ``jpeg``: re-encoded as JPEG at quality ``round(95 - 85 * strength)`` (0.5: 52; 1: 10);
* ``resize``: downscaled (bicubic) by ``1 - 0.75 * strength`` (0.5: to 62.5 %), never below
  32 px a side;
* ``fake-share``: the pixels are left alone; the stream's fake share moves from the base share
  (``fake_share``) to ``strength`` (0.5: half the images are fake; 1: all of them).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageFilter

from fakescope.errors import ConfigError, FakeScopeError, InvalidImageError

REAL, FAKE = "real", "fake"
TRUTHS = (REAL, FAKE)
IMAGE_SHIFTS = ("brightness", "blur", "jpeg", "resize")
FAKE_SHARE_SHIFT = "fake-share"
SHIFTS = (*IMAGE_SHIFTS, FAKE_SHARE_SHIFT)
DEFAULT_STRENGTH = 0.5
DEFAULT_COUNT = 200
DEFAULT_FAKE_SHARE = 0.3
SOURCE = "simulate"
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MANIFEST = "manifest.jsonl"
REPORT_SET_REALS = "reals"  # the group of a report set's real twins
SAMPLES_GROUP = "samples"
# Smallest crop, as a share of each side: enough variety, yet the content stays recognisable.
_MIN_CROP = 0.8
_MIN_SIDE = 32
# Decoded pool images kept between draws: the committed pool (about 300 files) fits whole.
_DECODED_CACHE = 512
_POOL_HELP = (
    "give --real DIR / --fake DIR (folders of images), or --pool DIR: a report set (a "
    f"{MANIFEST} as scripts/export_report_set.py writes, e.g. tests/quality/generated) or a "
    "folder with real/ and fake/ sub-folders (the layout fakescope train reads)"
)


def samples_dir() -> Path:
    """The folder of sample images bundled with the package."""
    return Path(__file__).resolve().parent / "samples"


def bundled_samples(folder: str | Path | None = None) -> list[Path]:
    """Sample images (``.jpg``, ``.jpeg``, ``.png``, ``.webp``) in a folder, sorted by name.

    Args:
        folder: where to look; default the package's own samples (:func:`samples_dir`).

    Returns:
        The image files, possibly an empty list (no folder, or no images in it).
    """
    root = Path(folder) if folder is not None else samples_dir()
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.iterdir()
        if path.is_file()
        and path.suffix.lower() in SAMPLE_SUFFIXES
        and not path.name.startswith(".")
    )


# -- the pool ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolImage:
    """One file of the pool.

    Attributes:
        path: the image file.
        truth: ``real`` or ``fake``.
        group: the generator of a fake; the source (folder name, ``reals``, ``samples``) of a real.
    """

    path: Path
    truth: str
    group: str


@dataclass(frozen=True)
class ImagePool:
    """Real and generated image files to draw simulated traffic from.

    Build one with :meth:`from_sources` (what the CLI does), :meth:`from_folder`,
    :meth:`from_pool_folder`, :meth:`from_samples`, or join pools with ``+`` (a file given twice
    is kept once; given once as real and once as fake, it is refused).

    Attributes:
        images: the files, in the order they were added.
    """

    images: tuple[PoolImage, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[Path, PoolImage] = {}
        kept: list[PoolImage] = []
        for item in self.images:
            if item.truth not in TRUTHS:
                raise ConfigError(
                    f"{item.path}: truth must be 'real' or 'fake', got {item.truth!r}"
                )
            key = Path(os.path.abspath(item.path))
            earlier = seen.get(key)
            if earlier is None:
                seen[key] = item
                kept.append(item)
            elif earlier.truth != item.truth:
                raise ConfigError(
                    f"{item.path} is in the pool both as {earlier.truth} and as {item.truth}; "
                    "give each folder once, as --real or as --fake"
                )
        object.__setattr__(self, "images", tuple(kept))

    def __len__(self) -> int:
        return len(self.images)

    def __add__(self, other: ImagePool) -> ImagePool:
        if not isinstance(other, ImagePool):
            return NotImplemented
        return ImagePool(self.images + other.images)

    @property
    def real(self) -> tuple[PoolImage, ...]:
        """The real images."""
        return tuple(item for item in self.images if item.truth == REAL)

    @property
    def fake(self) -> tuple[PoolImage, ...]:
        """The generated images."""
        return tuple(item for item in self.images if item.truth == FAKE)

    def groups(self, truth: str) -> dict[str, tuple[PoolImage, ...]]:
        """One side's images by group (generator or source), groups sorted by name."""
        grouped: dict[str, list[PoolImage]] = {}
        for item in self.images:
            if item.truth == truth:
                grouped.setdefault(item.group, []).append(item)
        return {name: tuple(grouped[name]) for name in sorted(grouped)}

    def counts(self) -> dict[str, int]:
        """``{"real": n, "fake": n}``."""
        return {truth: sum(1 for item in self.images if item.truth == truth) for truth in TRUTHS}

    @property
    def default_fake_share(self) -> float:
        """:data:`DEFAULT_FAKE_SHARE` with both sides, else 1 (fakes only) or 0 (reals only)."""
        counts = self.counts()
        if counts[REAL] and counts[FAKE]:
            return DEFAULT_FAKE_SHARE
        return 1.0 if counts[FAKE] else 0.0

    def describe(self) -> str:
        """``"105 real (2 sources), 204 fake (10 generators)"``."""
        parts = []
        for truth, unit in ((REAL, "source"), (FAKE, "generator")):
            groups = len(self.groups(truth))
            count = sum(1 for item in self.images if item.truth == truth)
            parts.append(f"{count} {truth} ({groups} {unit}{'' if groups == 1 else 's'})")
        return ", ".join(parts)

    @classmethod
    def from_folder(
        cls, folder: str | Path, truth: str, *, group: str | None = None, check: bool = True
    ) -> ImagePool:
        """Every image file under ``folder`` (recursively; hidden files and folders skipped).

        Args:
            folder: the folder.
            truth: ``real`` or ``fake``, for all of them.
            group: their group; default the folder's name.
            check: open every file (:func:`check_pool_images`).

        Raises:
            ConfigError: no such folder, no image file in it, or a file that is not an image.
        """
        root = _existing_folder(folder)
        files = image_files(root)
        if not files:
            raise ConfigError(
                f"no image files ({' '.join(IMAGE_SUFFIXES)}) under {root}; {_POOL_HELP}"
            )
        pool = cls(tuple(PoolImage(path, truth, group or _folder_name(root)) for path in files))
        if check:
            check_pool_images(pool.images)
        return pool

    @classmethod
    def from_report_set(
        cls, folder: str | Path, *, split: str | None = None, check: bool = True
    ) -> ImagePool:
        """The files a report set's ``manifest.jsonl`` lists: generator outputs (fake, grouped by
        generator) and their real twins (real, group ``reals``), each file once.

        Args:
            folder: the report set (``tests/quality/generated``, ``build/generated``).
            split: keep the records of this split only (``heldout``, ...); None keeps all.
            check: open every file (:func:`check_pool_images`).

        Raises:
            ConfigError: no manifest, a line that is not a record, a path outside the folder, no
                listed file present, or a file that is not an image.
        """
        root = _existing_folder(folder)
        manifest = root / MANIFEST
        if not manifest.is_file():
            raise ConfigError(f"{root} has no {MANIFEST}; {_POOL_HELP}")
        absolute_root = Path(os.path.abspath(root))
        items: list[PoolImage] = []
        for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                entries = [(str(record["fake"]), FAKE, str(record["generator"]))]
                if record.get("real"):
                    entries.append((str(record["real"]), REAL, REPORT_SET_REALS))
                record_split = record.get("split")
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(
                    f"{manifest}:{number} is not a report-set record ({exc!r}); each line must "
                    'be a JSON object with at least "fake" and "generator"'
                ) from None
            if split is not None and record_split != split:
                continue
            for name, truth, group in entries:
                path = root / name
                # normpath, not resolve: a report set may hold links to files kept elsewhere.
                if not Path(os.path.normpath(absolute_root / name)).is_relative_to(absolute_root):
                    raise ConfigError(f"{manifest}:{number} names a file outside {root}: {name}")
                if path.is_file():  # a stopped run may have written the line only
                    items.append(PoolImage(path, truth, group))
        if not items:
            wanted = f" of split {split!r}" if split is not None else ""
            raise ConfigError(f"{manifest} lists no image file{wanted} that exists under {root}")
        pool = cls(tuple(items))
        if check:
            check_pool_images(pool.images)
        return pool

    @classmethod
    def from_class_folders(cls, folder: str | Path, *, check: bool = True) -> ImagePool:
        """``folder/real/`` (real) and ``folder/fake/`` (fake), each side one group named after
        ``folder``; either sub-folder may be absent, not both.

        Raises:
            ConfigError: neither sub-folder, a sub-folder without images, or a file that is not
                an image.
        """
        root = _existing_folder(folder)
        present = [truth for truth in TRUTHS if (root / truth).is_dir()]
        if not present:
            raise ConfigError(f"{root} has no real/ or fake/ sub-folder; {_POOL_HELP}")
        pool = cls()
        for truth in present:
            pool = pool + cls.from_folder(
                root / truth, truth, group=_folder_name(root), check=check
            )
        return pool

    @classmethod
    def from_pool_folder(cls, folder: str | Path, *, check: bool = True) -> ImagePool:
        """A report set (it has a ``manifest.jsonl``) or a ``real/`` + ``fake/`` folder.

        Raises:
            ConfigError: neither layout, or what the layout's reader raises.
        """
        root = _existing_folder(folder)
        if (root / MANIFEST).is_file():
            return cls.from_report_set(root, check=check)
        return cls.from_class_folders(root, check=check)

    @classmethod
    def from_samples(cls, paths: Iterable[str | Path], *, check: bool = True) -> ImagePool:
        """Sample files labelled by their names (see the module docstring).

        Raises:
            ConfigError: a name that starts with neither ``real_`` nor ``fake_``, or a file that
                is not an image.
        """
        items = []
        for raw in paths:
            path = Path(raw)
            stem = path.stem
            if stem.startswith("real_"):
                items.append(PoolImage(path, REAL, SAMPLES_GROUP))
            elif stem.startswith("fake_"):
                parts = stem.split("_")
                # fake_<what>_<generator>: the generator is last; fake_<what> names none.
                items.append(PoolImage(path, FAKE, parts[-1] if len(parts) > 2 else SAMPLES_GROUP))
            else:
                raise ConfigError(
                    f"{path}: a sample's name must start with real_ or fake_ (it says the "
                    "image's truth); for a folder of unlabelled images use --real DIR or --fake DIR"
                )
        pool = cls(tuple(items))
        if check:
            check_pool_images(pool.images)
        return pool

    @classmethod
    def from_sources(
        cls,
        *,
        pools: Sequence[str | Path] = (),
        real: Sequence[str | Path] = (),
        fake: Sequence[str | Path] = (),
        samples: str | Path | None = None,
        check: bool = True,
    ) -> ImagePool:
        """The union of every source given; the bundled samples when none is.

        Args:
            pools: report-set or ``real/`` + ``fake/`` folders (:meth:`from_pool_folder`).
            real, fake: folders of real / generated images (:meth:`from_folder`).
            samples: a folder of ``real_*`` / ``fake_*`` sample images (:meth:`from_samples`).
            check: open every file (:func:`check_pool_images`).

        Raises:
            ConfigError: a source that cannot be read (the message names it), or no image at all.
        """
        pool = cls()
        for folder in pools:
            pool = pool + cls.from_pool_folder(folder, check=check)
        for folder in real:
            pool = pool + cls.from_folder(folder, REAL, check=check)
        for folder in fake:
            pool = pool + cls.from_folder(folder, FAKE, check=check)
        if samples is not None or not (pools or real or fake):
            where = Path(samples) if samples is not None else samples_dir()
            files = bundled_samples(where)
            if not files:
                raise ConfigError(f"no {'/'.join(SAMPLE_SUFFIXES)} images in {where}")
            pool = pool + cls.from_samples(files, check=check)
        return pool


def default_pool() -> ImagePool:
    """The bundled samples, labelled by their names."""
    return ImagePool.from_sources()


def project_pool_folders() -> tuple[Path, Path] | None:
    """(report set, held-out photos) of a source checkout, or None where they are not shipped.

    The committed report set (generator outputs and their real twins, ``tests/quality/generated``)
    and the held-out photos at their real sizes (``tests/quality/heldout_photos``) are the
    project's pool: the demo models' references are built from it, so demo traffic drawn from it
    is traffic like the reference.
    """
    root = Path(__file__).resolve().parents[2] / "tests" / "quality"
    generated, photos = root / "generated", root / "heldout_photos"
    if (generated / "manifest.jsonl").is_file() and photos.is_dir():
        return generated, photos
    return None


def project_pool(check: bool = True) -> ImagePool:
    """The project's pool (:func:`project_pool_folders`), else the bundled samples."""
    folders = project_pool_folders()
    if folders is None:
        return default_pool()
    generated, photos = folders
    return ImagePool.from_sources(pools=[generated], real=[photos], check=check)


def image_files(folder: str | Path) -> list[Path]:
    """Image files (:data:`IMAGE_SUFFIXES`) under ``folder``, sorted; hidden files and folders
    (names starting with ``.``) are skipped and hidden folders not entered."""
    found: list[Path] = []
    # os.walk does not follow links to folders, so a link loop cannot run away.
    for current, subfolders, names in os.walk(folder):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for name in names:
            path = Path(current, name)
            if (
                not name.startswith(".")
                and path.suffix.lower() in IMAGE_SUFFIXES
                and path.is_file()
            ):
                found.append(path)
    return sorted(found)


def check_pool_images(images: Iterable[PoolImage]) -> None:
    """Open every file as the predictor would (JPEGs at a reduced scale, for speed).

    Raises:
        ConfigError: the first file that is not a usable image, named, with what is accepted.
    """
    from fakescope.images import load_image

    for item in images:
        try:
            load_image(item.path, draft_size=(64, 64))
        except InvalidImageError as exc:
            raise ConfigError(
                f"{item.path} cannot be used in the traffic pool: {exc} Remove or replace the file."
            ) from None


def _existing_folder(folder: str | Path) -> Path:
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder; {_POOL_HELP}")
    return root


def _folder_name(root: Path) -> str:
    return root.name or root.resolve().name or str(root)


# -- shifts and the fake share ----------------------------------------------------------------


def _canonical_shift(shift: str | None) -> str | None:
    return FAKE_SHARE_SHIFT if shift == "fake_share" else shift


def check_shift(shift: str | None, strength: float) -> None:
    """Validate a shift name (``fake_share`` is taken for ``fake-share``) and strength.

    Raises:
        ConfigError: unknown shift name, or strength outside (0, 1].
    """
    shift = _canonical_shift(shift)
    if shift is not None and shift not in SHIFTS:
        raise ConfigError(f"unknown shift {shift!r}; choose one of {', '.join(SHIFTS)}")
    if not (
        isinstance(strength, (int, float))
        and not isinstance(strength, bool)
        and math.isfinite(strength)
        and 0 < strength <= 1
    ):
        raise ConfigError(f"shift strength must be a number in (0, 1], got {strength!r}")


def resolve_fake_share(
    pool: ImagePool,
    fake_share: float | None = None,
    *,
    shift: str | None = None,
    strength: float = DEFAULT_STRENGTH,
) -> tuple[float, float]:
    """The base fake share and the stream's (they differ only under the ``fake-share`` shift).

    Args:
        pool: the pool.
        fake_share: in [0, 1]; None for the pool's default (:attr:`ImagePool.default_fake_share`).
        shift, strength: the induced shift; ``fake-share`` makes the stream's share ``strength``.

    Returns:
        ``(base, stream)``.

    Raises:
        ConfigError: an empty pool, a share outside [0, 1], a bad shift, or a share that needs a
            side (real or fake) the pool has no image of.
    """
    check_shift(shift, strength)
    if not len(pool):
        raise ConfigError(f"the image pool is empty; {_POOL_HELP}")
    if fake_share is None:
        base = pool.default_fake_share
    elif (
        isinstance(fake_share, bool)
        or not isinstance(fake_share, (int, float))
        or not 0 <= fake_share <= 1
    ):
        raise ConfigError(f"fake share must be a number in [0, 1], got {fake_share!r}")
    else:
        base = float(fake_share)
    share = float(strength) if _canonical_shift(shift) == FAKE_SHARE_SHIFT else base
    counts = pool.counts()
    if share > 0 and not counts[FAKE]:
        raise ConfigError(
            f"a fake share of {share:g} needs generated images, but the pool has none; add "
            "--fake DIR or --pool DIR, or set the fake share to 0"
        )
    if share < 1 and not counts[REAL]:
        raise ConfigError(
            f"a fake share of {share:g} needs real images, but the pool has none; add "
            "--real DIR or --pool DIR, or set the fake share to 1"
        )
    return base, share


def jpeg_quality_for(strength: float) -> int:
    """The JPEG quality the ``jpeg`` shift encodes with at ``strength``."""
    return int(round(95 - 85 * strength))


def apply_shift(image: Image.Image, shift: str | None, strength: float = DEFAULT_STRENGTH):
    """Apply one induced input shift to an RGB image (see the module docstring).

    The ``jpeg`` shift is applied at encoding time (:func:`encode`) and ``fake-share`` changes
    which images are drawn, so the image is returned unchanged for them.

    Args:
        image: an RGB image.
        shift: one of :data:`SHIFTS`, or None for no shift.
        strength: in (0, 1].

    Returns:
        A new RGB image (or ``image`` itself when nothing changes).

    Raises:
        ConfigError: unknown shift or bad strength.
    """
    check_shift(shift, strength)
    if shift == "brightness":
        return ImageEnhance.Brightness(image).enhance(1.0 + strength)
    if shift == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=4.0 * strength))
    if shift == "resize":
        factor = 1.0 - 0.75 * strength
        size = (
            max(_MIN_SIDE, round(image.width * factor)),
            max(_MIN_SIDE, round(image.height * factor)),
        )
        return image.resize(size, Image.Resampling.BICUBIC)
    return image


def vary_image(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random crop (80-100 % of each side, anywhere) and a random horizontal flip."""
    width = max(1, int(round(image.width * rng.uniform(_MIN_CROP, 1.0))))
    height = max(1, int(round(image.height * rng.uniform(_MIN_CROP, 1.0))))
    left = int(rng.integers(0, image.width - width + 1))
    top = int(rng.integers(0, image.height - height + 1))
    varied = image.crop((left, top, left + width, top + height))
    if rng.random() < 0.5:
        varied = varied.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return varied


def encode(image: Image.Image, fmt: str, quality: int | None = None) -> bytes:
    """Encode an RGB image as ``JPEG`` (at ``quality``, default 90) or ``PNG``."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=int(quality or 90))
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- the stream -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficImage:
    """One image of the simulated stream.

    Attributes:
        name: ``simulate-00042-<source stem>.<ext>``.
        data: the encoded bytes, as an upload would send them.
        sample: the file name of the pool image it was made from.
        truth: ``real`` or ``fake``: what the image really is.
        group: the generator of a fake; the source of a real (see :class:`PoolImage`).
        path: the pool file it was made from.
    """

    name: str
    data: bytes
    sample: str
    truth: str
    group: str
    path: Path | None = None

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of :attr:`data`: the hash the prediction log keeps for it."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass(frozen=True)
class _Decoded:
    image: Image.Image
    fmt: str
    quality: int | None


def _decode(path: Path) -> _Decoded:
    from fakescope.images import load_image

    try:
        loaded = load_image(path)
    except InvalidImageError as exc:  # changed since the pool was checked
        raise ConfigError(f"{path} cannot be used in the traffic pool: {exc}") from None
    quality = None
    if loaded.jpeg_quality is not None:
        quality = min(100, max(1, int(round(loaded.jpeg_quality))))
    fmt = "JPEG" if loaded.format == "JPEG" else "PNG"
    return _Decoded(loaded.image, fmt, quality)


def _as_pool(pool: ImagePool | Sequence[str | Path]) -> ImagePool:
    if isinstance(pool, ImagePool):
        return pool
    if not pool:
        raise ConfigError(f"the image pool is empty; {_POOL_HELP}")
    return ImagePool.from_samples(pool)


def _rngs(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the choices and the variations."""
    choose, vary = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(choose), np.random.default_rng(vary)


def _draws(pool: ImagePool, share: float, rng: np.random.Generator) -> Iterator[PoolImage]:
    sides = {truth: list(pool.groups(truth).values()) for truth in TRUTHS}
    while True:
        # Three draws per image whatever the share, so each image's choice uses its own numbers.
        fake = rng.random() < share
        group_pick, file_pick = rng.random(), rng.random()
        groups = sides[FAKE if fake else REAL]
        files = groups[min(len(groups) - 1, int(group_pick * len(groups)))]
        yield files[min(len(files) - 1, int(file_pick * len(files)))]


def _check_count(count: int) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ConfigError(f"count must be a whole number, 0 or more, got {count!r}")


def choose_images(
    pool: ImagePool,
    count: int,
    *,
    shift: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    fake_share: float | None = None,
    seed: int = 0,
) -> list[PoolImage]:
    """The pool files :func:`generate_images` makes its images from, in order (no decoding).

    Raises:
        ConfigError: as :func:`resolve_fake_share`, or a negative count.
    """
    _check_count(count)
    _, share = resolve_fake_share(pool, fake_share, shift=shift, strength=strength)
    draws = _draws(pool, share, _rngs(seed)[0])
    return [next(draws) for _ in range(count)]


def generate_images(
    pool: ImagePool | Sequence[str | Path],
    count: int,
    *,
    shift: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    fake_share: float | None = None,
    seed: int = 0,
) -> Iterator[TrafficImage]:
    """A reproducible stream of ``count`` varied (and maybe shifted) pool images.

    Args:
        pool: an :class:`ImagePool`, or sample files named ``real_*`` / ``fake_*``
            (:meth:`ImagePool.from_samples`).
        count: how many images.
        shift: one of :data:`SHIFTS`, or None.
        strength: shift strength in (0, 1].
        fake_share: the share of generated images, in [0, 1]; None for the pool's default.
        seed: the same seed gives the same bytes in the same order.

    Yields:
        :class:`TrafficImage` objects, each with its truth.

    Raises:
        ConfigError: an empty pool, a negative count, a bad shift or share, a share that needs
            a side the pool lacks, or a pool file that is not a usable image.
    """
    shift = _canonical_shift(shift)
    check_shift(shift, strength)
    _check_count(count)
    pool = _as_pool(pool)
    _, share = resolve_fake_share(pool, fake_share, shift=shift, strength=strength)
    return _stream(pool, count, shift, strength, share, seed)


def _stream(
    pool: ImagePool, count: int, shift: str | None, strength: float, share: float, seed: int
) -> Iterator[TrafficImage]:
    choose_rng, vary_rng = _rngs(seed)
    draws = _draws(pool, share, choose_rng)
    decoded = lru_cache(maxsize=_DECODED_CACHE)(_decode)
    for index in range(count):
        item = next(draws)
        source = decoded(item.path)
        image = apply_shift(vary_image(source.image, vary_rng), shift, strength)
        if shift == "jpeg":
            fmt, quality = "JPEG", jpeg_quality_for(strength)
        else:
            fmt, quality = source.fmt, source.quality
        ext = "jpg" if fmt == "JPEG" else "png"
        yield TrafficImage(
            name=f"simulate-{index:05d}-{item.path.stem}.{ext}",
            data=encode(image, fmt, quality),
            sample=item.path.name,
            truth=item.truth,
            group=item.group,
            path=item.path,
        )


def iter_pool_images(
    pool: ImagePool,
    count: int,
    *,
    shift: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    fake_share: float | None = None,
    seed: int = 0,
) -> Iterator[TrafficImage]:
    """Decoded-and-encoded pool images with their truth, no model involved (for evaluation code).

    The same stream as :func:`generate_images` (and as :func:`simulate_traffic` scores).
    """
    return generate_images(
        pool, count, shift=shift, strength=strength, fake_share=fake_share, seed=seed
    )


# -- scoring and logging ----------------------------------------------------------------------


class ImageTruth(NamedTuple):
    """What one logged image really is (for labelling it later by its hash)."""

    sha256: str
    truth: str
    group: str
    name: str


@dataclass
class TrafficResult:
    """What one simulation did.

    Attributes:
        count: predictions logged; rejected: inputs rejected (logged as rejections).
        model_name, model_version: the model that scored them.
        shift, strength, seed: the stream's parameters.
        first_at, last_at: UTC times of the first and last logged row.
        latency: :func:`fakescope.monitoring.latency_summary` of the logged rows.
        verdicts: verdict -> number of predictions.
        drift: every drift test on the logged rows against the reference
            (:class:`fakescope.drift_checks.WindowCheck`), when there was one.
        drift_note: why there is no drift report, when there is none.
        fake_share: the stream's share of generated images; base_fake_share: the share without
            the ``fake-share`` shift.
        n_real, n_fake: images drawn of each truth (predictions and rejections).
        truths: one :class:`ImageTruth` per logged image (prediction or rejection), in order.
        pool: the pool, described (:meth:`ImagePool.describe`).
    """

    count: int
    rejected: int
    model_name: str
    model_version: str
    shift: str | None
    strength: float
    seed: int
    first_at: datetime
    last_at: datetime
    latency: dict[str, Any] = field(default_factory=dict)
    verdicts: dict[str, int] = field(default_factory=dict)
    drift: Any = None
    drift_note: str = ""
    fake_share: float | None = None
    base_fake_share: float | None = None
    n_real: int = 0
    n_fake: int = 0
    truths: list[ImageTruth] = field(default_factory=list)
    pool: str = ""

    def summary_lines(self) -> list[str]:
        """Plain-text summary, one line each (what ``fakescope simulate-traffic`` prints)."""
        if self.shift == FAKE_SHARE_SHIFT and self.base_fake_share is not None:
            shift = f"{self.shift} ({self.base_fake_share:g} -> {self.fake_share:g})"
        elif self.shift:
            shift = f"{self.shift} (strength {self.strength:g})"
        else:
            shift = "none"
        lines = [
            f"simulated {self.count} predictions ({self.rejected} rejected) with "
            f"{self.model_name} {self.model_version}, seed {self.seed}, shift: {shift}",
            f"logged from {self.first_at:%Y-%m-%d %H:%M:%S} to {self.last_at:%Y-%m-%d %H:%M:%S} "
            "UTC as source=simulate",
        ]
        if self.fake_share is not None:
            pool = f" from a pool of {self.pool}" if self.pool else ""
            lines.append(
                f"truth: {self.n_real} real, {self.n_fake} fake (fake share "
                f"{self.fake_share:g}){pool}"
            )
        if self.verdicts:
            lines.append(
                "verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(self.verdicts.items()))
            )
        p50, p95 = self.latency.get("p50"), self.latency.get("p95")
        if p50 is not None and p95 is not None:
            lines.append(f"latency: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
        lines.append(self.drift_line())
        return lines

    def drift_line(self) -> str:
        """One line: every drift test's verdict on the logged rows, naming the reference."""
        check = self.drift
        if check is None:
            return f"drift: not checked ({self.drift_note})"
        head = f"drift against {check.reference_label}, window of {check.n} predictions: "
        if check.drifted is None:
            return head + "no verdict (too few predictions)"
        features = check.features.drifted_features
        named = f"; features drifted: {', '.join(features)}" if features else ""
        if check.drifted:
            return head + f"DRIFT DETECTED ({', '.join(check.alarms)}{named})"
        return head + f"no drift{named}"


def _times(count: int, start: datetime | None, interval_seconds: float) -> list[datetime | None]:
    """The logged time of each row; None means "when it is scored"."""
    if interval_seconds <= 0 and start is None:
        return [None] * count
    step = timedelta(seconds=interval_seconds)
    if start is None:
        # The simulated stream ends now, so it shows in the dashboard's recent windows.
        start = datetime.now(timezone.utc) - step * max(0, count - 1)
    elif start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    return [start + step * i for i in range(count)]


def _this_run(logged: Any, times: list[datetime]) -> Any:
    """The rows this run wrote: an earlier run whose times overlap (both ending "now") shares
    the time span, not the exact times."""
    stamps = pd.to_datetime([t.astimezone(timezone.utc) for t in times], utc=True)
    return logged[logged["recorded_at"].isin(stamps)]


def simulate_traffic(
    predictor: Any,
    store: Any,
    *,
    count: int = DEFAULT_COUNT,
    shift: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    seed: int = 0,
    start: datetime | None = None,
    interval_seconds: float = 0.0,
    pool: ImagePool | None = None,
    fake_share: float | None = None,
    samples: Sequence[str | Path] | None = None,
    reference: Any = None,
    drift_options: dict[str, Any] | None = None,
) -> TrafficResult:
    """Score a simulated stream with the real predictor and log it with ``source="simulate"``.

    Args:
        predictor: a :class:`fakescope.predictor.Predictor`.
        store: a :class:`fakescope.store.PredictionStore`.
        count: number of images (at least 1).
        shift, strength: the induced shift (see the module docstring).
        seed: random seed of the stream.
        start: logged time of the first row (naive = UTC). Default: with an interval, so that
            the last row lands now; without one, the real time each image is scored.
        interval_seconds: logged time between consecutive rows (0: real time).
        pool: the images to draw from; default the bundled samples (:func:`default_pool`).
        fake_share: the share of generated images in [0, 1]; None for the pool's default.
        samples: instead of ``pool``, sample files named ``real_*`` / ``fake_*`` (kept for older
            callers).
        reference: a :class:`fakescope.drift.ReferenceProfile` to test the logged rows against,
            or None to skip the drift check.
        drift_options: extra keyword arguments of :func:`fakescope.drift.drift_report` (the
            feature test of :func:`fakescope.drift_checks.check_window`).

    Returns:
        A :class:`TrafficResult`, with each logged image's truth.

    Raises:
        ConfigError: bad count, shift, strength, share or interval, both ``pool`` and
            ``samples``, or a pool that cannot serve the share.
        StoreError: the log cannot be written.
    """
    from fakescope.monitoring import latency_summary
    from fakescope.verdicts import Prediction

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"count must be a whole number of at least 1, got {count!r}")
    if not math.isfinite(interval_seconds) or interval_seconds < 0:
        raise ConfigError(f"interval_seconds must be 0 or more, got {interval_seconds!r}")
    shift = _canonical_shift(shift)
    check_shift(shift, strength)
    if pool is not None and samples is not None:
        raise ConfigError("give pool or samples, not both")
    if pool is None:
        pool = _as_pool(samples) if samples is not None else default_pool()
    base_share, share = resolve_fake_share(pool, fake_share, shift=shift, strength=strength)
    times = _times(count, start, interval_seconds)
    info = predictor.info
    stream = _stream(pool, count, shift, strength, share, seed)
    batch_size = max(1, int(getattr(predictor.settings, "batch_size", 8)))
    logged_times: list[datetime] = []
    verdicts: dict[str, int] = {}
    truths: list[ImageTruth] = []
    rejected = 0
    index = 0
    while index < count:
        chunk = [next(stream) for _ in range(min(batch_size, count - index))]
        outcomes = predictor.predict(
            [item.data for item in chunk], errors="return", names=[item.name for item in chunk]
        )
        for item, outcome in zip(chunk, outcomes):
            when = times[index] or datetime.now(timezone.utc)
            if isinstance(outcome, Prediction):
                store.record_prediction(outcome, source=SOURCE, recorded_at=when)
                verdicts[outcome.verdict] = verdicts.get(outcome.verdict, 0) + 1
            else:
                store.record_rejection(
                    outcome,
                    source=SOURCE,
                    model_name=info.name,
                    model_version=info.version,
                    recorded_at=when,
                )
                rejected += 1
            truths.append(ImageTruth(item.sha256, item.truth, item.group, item.name))
            logged_times.append(when)
            index += 1

    first_at, last_at = min(logged_times), max(logged_times)
    logged = _this_run(
        store.predictions(
            since=first_at,
            until=last_at + timedelta(microseconds=1),
            model_version=info.version,
            source=SOURCE,
            embeddings=reference is not None,
        ),
        logged_times,
    )
    n_fake = sum(1 for t in truths if t.truth == FAKE)
    result = TrafficResult(
        count=count - rejected,
        rejected=rejected,
        model_name=info.name,
        model_version=info.version,
        shift=shift,
        strength=strength,
        seed=seed,
        first_at=first_at,
        last_at=last_at,
        latency=latency_summary(logged),
        verdicts=verdicts,
        fake_share=share,
        base_fake_share=base_share,
        n_real=len(truths) - n_fake,
        n_fake=n_fake,
        truths=truths,
        pool=pool.describe(),
    )
    if reference is None:
        result.drift_note = f"no reference profile for model version {info.version}"
        return result
    from fakescope.drift_checks import CheckOptions, check_window

    try:
        result.drift = check_window(
            reference, logged, CheckOptions(feature_options=dict(drift_options or {}))
        )
    except FakeScopeError as exc:
        result.drift_note = str(exc)
    return result
