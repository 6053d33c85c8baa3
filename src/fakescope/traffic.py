"""Simulated traffic: a reproducible stream of images through the real predictor into the log.

For demonstrations: the dashboard's Monitor charts fill up, and an induced input shift makes the
drift alarm fire. The stream is made of the bundled sample images (``fakescope/samples``), each
draw varied by a random crop (80-100 % of each side) and a random horizontal flip, so it is not the
same few images repeated. Every random choice comes from one seeded generator, so a seed gives the
same image bytes, hence the same predictions, on every run.

Shifts (``strength`` in (0, 1], default 0.5), applied after the variation:

* ``brightness``: pixel values multiplied by ``1 + strength`` (0.5: 1.5x brighter, clipped);
* ``blur``: Gaussian blur of radius ``4 * strength`` px (0.5: 2 px);
* ``jpeg``: re-encoded as JPEG at quality ``round(95 - 85 * strength)`` (0.5: 52; 1: 10);
* ``resize``: downscaled (bicubic) by ``1 - 0.75 * strength`` (0.5: to 62.5 %), never below
  32 px a side.

Without a shift each image keeps its sample's encoding: JPEG samples are re-encoded at the quality
they were saved with (estimated from their tables), PNG samples stay PNG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from fakescope.errors import ConfigError, FakeScopeError

SHIFTS = ("brightness", "blur", "jpeg", "resize")
DEFAULT_STRENGTH = 0.5
DEFAULT_COUNT = 200
SOURCE = "simulate"
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Smallest crop, as a share of each side: enough variety, yet the content stays recognisable.
_MIN_CROP = 0.8
_MIN_SIDE = 32


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


def check_shift(shift: str | None, strength: float) -> None:
    """Validate a shift name and strength.

    Raises:
        ConfigError: unknown shift name, or strength outside (0, 1].
    """
    if shift is not None and shift not in SHIFTS:
        raise ConfigError(f"unknown shift {shift!r}; choose one of {', '.join(SHIFTS)}")
    if not (isinstance(strength, (int, float)) and math.isfinite(strength) and 0 < strength <= 1):
        raise ConfigError(f"shift strength must be a number in (0, 1], got {strength!r}")


def jpeg_quality_for(strength: float) -> int:
    """The JPEG quality the ``jpeg`` shift encodes with at ``strength``."""
    return int(round(95 - 85 * strength))


def apply_shift(image: Image.Image, shift: str | None, strength: float = DEFAULT_STRENGTH):
    """Apply one induced input shift to an RGB image (see the module docstring).

    The ``jpeg`` shift is applied at encoding time (:func:`encode`), so the image is returned
    unchanged for it.

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


@dataclass(frozen=True)
class TrafficImage:
    """One image of the simulated stream.

    Attributes:
        name: ``simulate-00042-<sample stem>.<ext>``.
        data: the encoded bytes, as an upload would send them.
        sample: the file name of the sample it was made from.
    """

    name: str
    data: bytes
    sample: str


@dataclass(frozen=True)
class _Sample:
    name: str
    stem: str
    image: Image.Image
    fmt: str
    quality: int | None


def _load_samples(paths: Sequence[str | Path]) -> list[_Sample]:
    from fakescope.images import load_image

    loaded = []
    for path in paths:
        image = load_image(path)
        quality = None
        if image.jpeg_quality is not None:
            quality = min(100, max(1, int(round(image.jpeg_quality))))
        fmt = "JPEG" if image.format == "JPEG" else "PNG"
        loaded.append(_Sample(Path(path).name, Path(path).stem, image.image, fmt, quality))
    return loaded


def generate_images(
    samples: Sequence[str | Path],
    count: int,
    *,
    shift: str | None = None,
    strength: float = DEFAULT_STRENGTH,
    seed: int = 0,
) -> Iterator[TrafficImage]:
    """A reproducible stream of ``count`` varied (and maybe shifted) sample images.

    Args:
        samples: image files to draw from (each draw picks one uniformly).
        count: how many images.
        shift: one of :data:`SHIFTS`, or None.
        strength: shift strength in (0, 1].
        seed: the same seed gives the same bytes in the same order.

    Yields:
        :class:`TrafficImage` objects.

    Raises:
        ConfigError: no samples, a negative count, or a bad shift.
        InvalidImageError: a sample file is not a usable image.
    """
    check_shift(shift, strength)
    if count < 0:
        raise ConfigError(f"count must be 0 or more, got {count}")
    if not samples:
        raise ConfigError(
            f"no sample images to simulate traffic with (looked in {samples_dir()}); "
            "give a folder of .jpg/.png images"
        )
    loaded = _load_samples(samples)
    rng = np.random.default_rng(seed)
    for index in range(count):
        sample = loaded[int(rng.integers(len(loaded)))]
        image = apply_shift(vary_image(sample.image, rng), shift, strength)
        if shift == "jpeg":
            fmt, quality = "JPEG", jpeg_quality_for(strength)
        else:
            fmt, quality = sample.fmt, sample.quality
        data = encode(image, fmt, quality)
        ext = "jpg" if fmt == "JPEG" else "png"
        yield TrafficImage(f"simulate-{index:05d}-{sample.stem}.{ext}", data, sample.name)


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
        drift: the drift report of the logged rows against the reference, when there was one.
        drift_note: why there is no drift report, when there is none.
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

    def summary_lines(self) -> list[str]:
        """Plain-text summary, one line each (what ``fakescope simulate-traffic`` prints)."""
        shift = f"{self.shift} (strength {self.strength:g})" if self.shift else "none"
        lines = [
            f"simulated {self.count} predictions ({self.rejected} rejected) with "
            f"{self.model_name} {self.model_version}, seed {self.seed}, shift: {shift}",
            f"logged from {self.first_at:%Y-%m-%d %H:%M:%S} to {self.last_at:%Y-%m-%d %H:%M:%S} "
            "UTC as source=simulate",
        ]
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
        """One line: the dataset drift verdict and the drifted features, or why there is none."""
        report = self.drift
        if report is None:
            return f"drift: not checked ({self.drift_note})"
        if report.dataset_drifted is None:
            return f"drift: no verdict ({report.status})"
        share = (
            f"{report.drift_share:.0%} of features drifted, alarm at {report.share_threshold:.0%}"
        )
        if report.dataset_drifted:
            names = ", ".join(report.drifted_features)
            return f"drift: DRIFT DETECTED ({share}: {names})"
        drifted = report.drifted_features
        extra = f"; drifted: {', '.join(drifted)}" if drifted else ""
        return f"drift: no dataset drift ({share}{extra})"


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
    samples: Sequence[str | Path] | None = None,
    reference: Any = None,
    drift_options: dict[str, Any] | None = None,
) -> TrafficResult:
    """Score a simulated stream with the real predictor and log it with ``source="simulate"``.

    Args:
        predictor: a :class:`fakescope.predictor.Predictor`.
        store: a :class:`fakescope.store.PredictionStore`.
        count: number of images (at least 1).
        shift, strength: the induced input shift (see the module docstring).
        seed: random seed of the stream.
        start: logged time of the first row (naive = UTC). Default: with an interval, so that
            the last row lands now; without one, the real time each image is scored.
        interval_seconds: logged time between consecutive rows (0: real time).
        samples: image files to draw from; default the bundled samples.
        reference: a :class:`fakescope.drift.ReferenceProfile` to test the logged rows against,
            or None to skip the drift check.
        drift_options: extra keyword arguments of :func:`fakescope.drift.drift_report`.

    Returns:
        A :class:`TrafficResult`.

    Raises:
        ConfigError: bad count, shift, strength or interval, or no sample images.
        StoreError: the log cannot be written.
    """
    from fakescope.monitoring import latency_summary
    from fakescope.verdicts import Prediction

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError(f"count must be a whole number of at least 1, got {count!r}")
    if not math.isfinite(interval_seconds) or interval_seconds < 0:
        raise ConfigError(f"interval_seconds must be 0 or more, got {interval_seconds!r}")
    check_shift(shift, strength)
    paths = list(samples) if samples is not None else bundled_samples()
    times = _times(count, start, interval_seconds)
    info = predictor.info
    stream = generate_images(paths, count, shift=shift, strength=strength, seed=seed)
    batch_size = max(1, int(getattr(predictor.settings, "batch_size", 8)))
    logged_times: list[datetime] = []
    verdicts: dict[str, int] = {}
    rejected = 0
    index = 0
    while index < count:
        chunk = [next(stream) for _ in range(min(batch_size, count - index))]
        outcomes = predictor.predict(
            [item.data for item in chunk], errors="return", names=[item.name for item in chunk]
        )
        for outcome in outcomes:
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
            logged_times.append(when)
            index += 1

    first_at, last_at = min(logged_times), max(logged_times)
    logged = store.predictions(
        since=first_at,
        until=last_at + timedelta(microseconds=1),
        model_version=info.version,
        source=SOURCE,
    )
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
    )
    if reference is None:
        result.drift_note = f"no reference profile for model version {info.version}"
        return result
    from fakescope.drift import drift_report

    try:
        result.drift = drift_report(reference, logged, **(drift_options or {}))
    except FakeScopeError as exc:
        result.drift_note = str(exc)
    return result
