"""Ground truth from people: labels turned into measured performance, a label-free estimate beside
it, and the model's mistakes exported as a training folder.

The prediction log holds the labels (:meth:`fakescope.store.PredictionStore.record_label`); this
module works on the frames the store returns and on image files, never on the database:

* :func:`truth_from_feedback` turns "the verdict was right / wrong" into the true label;
* :func:`performance_over_time` measures accuracy and error rates per window on labelled
  predictions (:meth:`~fakescope.store.PredictionStore.labelled_predictions`);
* :func:`estimated_performance_over_time` estimates the same numbers without labels from the
  calibrated probabilities (confidence-based performance estimation, as NannyML's CBPE);
* :func:`side_by_side` puts measured and estimated numbers in one frame, per window with labels;
* :func:`keep_labelled_image` keeps a labelled image's bytes by hash (the log never holds image
  bytes), and :func:`export_mistakes` writes the wrongly judged images to ``OUT/real/`` and
  ``OUT/fake/``, the layout ``fakescope train DATA`` reads.

No Streamlit and no torch here: the CLI and the pages call these functions.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fakescope.config import Settings
from fakescope.drift import parse_window, split_windows
from fakescope.errors import DriftError, InvalidArgumentError
from fakescope.images import detect_format
from fakescope.safe_text import printable

FEEDBACK = ("right", "wrong")
TRUTHS = ("real", "fake")
DECIDED = ("fake", "real")

PERFORMANCE_COLUMNS = (
    "window_start",
    "window_end",
    "n_labelled",
    "n_decided",
    "accuracy",
    "false_positive_rate",
    "false_negative_rate",
    "uncertain_share",
)
ESTIMATED_COLUMNS = (
    "window_start",
    "window_end",
    "n",
    "n_decided",
    "estimated_accuracy",
    "estimated_false_positive_rate",
    "estimated_false_negative_rate",
    "uncertain_share",
)
SIDE_BY_SIDE_COLUMNS = (
    "window_start",
    "window_end",
    "n_labelled",
    "n",
    "accuracy",
    "estimated_accuracy",
    "false_positive_rate",
    "estimated_false_positive_rate",
    "false_negative_rate",
    "estimated_false_negative_rate",
)

LABELLED_IMAGES_FOLDER = "labelled_images"
# What the exported folder may hold: what fakescope.training.dataset reads (that module imports
# torch, so the list is repeated here; a test keeps the two in step).
TRAINING_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")
_EXTENSIONS = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "GIF": ".gif",
}
_HASH_CHUNK = 1 << 20


# ------------------------------------------------------------------------------------ feedback


def truth_from_feedback(verdict: str, feedback: str) -> str:
    """The true label from a person's "right" / "wrong" on a verdict.

    Args:
        verdict: the verdict shown: ``fake`` or ``real``.
        feedback: ``right`` (the verdict is the truth) or ``wrong`` (the other class is).

    Returns:
        ``real`` or ``fake``.

    Raises:
        InvalidArgumentError: an unknown feedback or verdict, or an ``uncertain`` verdict,
            which is neither right nor wrong (the message asks for the true label instead).
    """
    if feedback not in FEEDBACK:
        raise InvalidArgumentError(
            f"feedback must be one of {', '.join(map(repr, FEEDBACK))}, got {printable(feedback)!r}"
        )
    if verdict == "uncertain":
        raise InvalidArgumentError(
            "the verdict was 'uncertain', which is neither right nor wrong; give the true label "
            "instead ('real' or 'fake')"
        )
    if verdict not in DECIDED:
        raise InvalidArgumentError(
            f"verdict must be one of 'fake', 'real' or 'uncertain', got {printable(verdict)!r}"
        )
    if feedback == "right":
        return verdict
    return "real" if verdict == "fake" else "fake"


def labelled_images_dir(settings: Settings) -> Path:
    """Where labelled images are kept: ``<data_dir>/labelled_images`` (created on first use)."""
    return Path(settings.data_dir) / LABELLED_IMAGES_FOLDER


# --------------------------------------------------------------------------------- performance


def _check_window(window: str | int) -> pd.Timedelta | int:
    """The window parsed as the drift charts parse theirs (the same message when it is bad)."""
    try:
        return parse_window(window)
    except DriftError as exc:
        raise InvalidArgumentError(str(exc)) from None


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgumentError(
            f"{what} needs the columns {', '.join(missing)}; give the frame "
            "PredictionStore returns"
        )


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator > 0 else float("nan")


def _measured(chunk: pd.DataFrame) -> dict[str, Any]:
    verdict = chunk["verdict"].to_numpy(dtype=object)
    truth = chunk["truth"].to_numpy(dtype=object)
    decided = (verdict == "fake") | (verdict == "real")
    real, fake = decided & (truth == "real"), decided & (truth == "fake")
    return {
        "n_labelled": len(chunk),
        "n_decided": int(decided.sum()),
        "accuracy": _ratio((decided & (verdict == truth)).sum(), decided.sum()),
        "false_positive_rate": _ratio((real & (verdict == "fake")).sum(), real.sum()),
        "false_negative_rate": _ratio((fake & (verdict == "real")).sum(), fake.sum()),
        "uncertain_share": _ratio((verdict == "uncertain").sum(), len(chunk)),
    }


def _estimated(chunk: pd.DataFrame) -> dict[str, Any]:
    verdict = chunk["verdict"].to_numpy(dtype=object)
    p = chunk["fake_probability"].to_numpy(dtype="float64")
    called_fake, called_real = verdict == "fake", verdict == "real"
    decided = called_fake | called_real
    expected_fp = (1.0 - p[called_fake]).sum()  # called fake, but real with probability 1 - p
    expected_fn = p[called_real].sum()  # called real, but fake with probability p
    expected_real = (1.0 - p[decided]).sum()
    expected_fake = p[decided].sum()
    right = np.where(called_fake, p, 1.0 - p)[decided]
    return {
        "n": len(chunk),
        "n_decided": int(decided.sum()),
        "estimated_accuracy": float(right.mean()) if right.size else float("nan"),
        "estimated_false_positive_rate": _ratio(expected_fp, expected_real),
        "estimated_false_negative_rate": _ratio(expected_fn, expected_fake),
        "uncertain_share": _ratio((verdict == "uncertain").sum(), len(chunk)),
    }


def _over_time(
    frame: pd.DataFrame | None, window: str | int, columns: tuple[str, ...], measure: Any
) -> pd.DataFrame:
    width = _check_window(window)
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=list(columns))
    rows = [
        {"window_start": start, "window_end": end, **measure(chunk)}
        for start, end, chunk in split_windows(frame, width)
    ]
    return pd.DataFrame(rows, columns=list(columns))


def performance_over_time(labelled: pd.DataFrame | None, window: str | int = "1h") -> pd.DataFrame:
    """Measured performance per window of labelled predictions.

    Per window (on the prediction's ``recorded_at``): ``n_labelled`` rows; ``n_decided`` with a
    ``fake`` or ``real`` verdict; ``accuracy`` = decided verdicts equal to the truth / decided;
    ``false_positive_rate`` = real images called fake / real images decided;
    ``false_negative_rate`` = fake images called real / fake images decided;
    ``uncertain_share`` = ``uncertain`` verdicts / labelled. A rate with a zero denominator is
    NaN.

    Args:
        labelled: :meth:`PredictionStore.labelled_predictions` (``recorded_at``, ``verdict``,
            ``truth``).
        window: a fixed time span (``"1h"``, ``"1D"``; windows aligned to the epoch, empty ones
            left out) or a whole number of rows (consecutive chunks in time order).

    Returns:
        Columns :data:`PERFORMANCE_COLUMNS`, oldest window first.

    Raises:
        InvalidArgumentError: a bad window, or a frame without those columns.
    """
    if labelled is not None and len(labelled):
        _require(labelled, ("recorded_at", "verdict", "truth"), "performance_over_time")
    return _over_time(labelled, window, PERFORMANCE_COLUMNS, _measured)


def estimated_performance_over_time(
    predictions: pd.DataFrame | None, window: str | int = "1h"
) -> pd.DataFrame:
    """Label-free estimate of performance per window (confidence-based performance estimation).

    With ``p`` the calibrated fake probability of a decided prediction, the chance that its
    verdict is right is ``p`` for a ``fake`` verdict and ``1 - p`` for a ``real`` one. Per window:

    * ``estimated_accuracy`` = mean over decided predictions of that chance;
    * expected false positives ``E[FP]`` = sum over ``fake`` verdicts of ``1 - p``; expected real
      images ``E[real]`` = sum over decided predictions of ``1 - p``;
      ``estimated_false_positive_rate`` = ``E[FP] / E[real]``;
    * expected false negatives ``E[FN]`` = sum over ``real`` verdicts of ``p``; expected fake
      images ``E[fake]`` = sum over decided predictions of ``p``;
      ``estimated_false_negative_rate`` = ``E[FN] / E[fake]``;
    * ``uncertain_share`` = ``uncertain`` verdicts / predictions (no estimate is made for them).

    The rates are ratios of expected counts, as NannyML's CBPE computes metrics from an expected
    confusion matrix. The estimate is only as good as the calibration: it assumes ``p`` is the
    true frequency of fakes among images given ``p``, which holds on data like the calibration
    set and fails silently under concept drift (new generators the model is confidently wrong
    about). Compare it with measured performance where labels exist (:func:`side_by_side`).

    Args:
        predictions: :meth:`PredictionStore.predictions` (``recorded_at``, ``verdict``,
            ``fake_probability``).
        window: as in :func:`performance_over_time`.

    Returns:
        Columns :data:`ESTIMATED_COLUMNS`, oldest window first.

    Raises:
        InvalidArgumentError: a bad window, or a frame without those columns.
    """
    if predictions is not None and len(predictions):
        _require(
            predictions,
            ("recorded_at", "verdict", "fake_probability"),
            "estimated_performance_over_time",
        )
    return _over_time(predictions, window, ESTIMATED_COLUMNS, _estimated)


def side_by_side(
    labelled: pd.DataFrame | None, predictions: pd.DataFrame | None, window: str = "1h"
) -> pd.DataFrame:
    """Measured and estimated performance in one frame, per time window that has labels.

    The measured numbers come from the labelled predictions of the window; the estimate from
    every prediction of the window (what the dashboard shows where nobody labels). A gap between
    the two means the calibration no longer holds or the labelled images are not typical.

    Args:
        labelled: :meth:`PredictionStore.labelled_predictions`.
        predictions: :meth:`PredictionStore.predictions` over the same period.
        window: a fixed time span (row windows of two different frames would not line up).

    Returns:
        Columns :data:`SIDE_BY_SIDE_COLUMNS` (``n_labelled`` labelled rows and ``n``
        predictions per window), oldest window first.

    Raises:
        InvalidArgumentError: a window that is not a time span, or frames without the columns.
    """
    if not isinstance(window, str):
        raise InvalidArgumentError(
            f"side_by_side needs a time window such as '1h' or '1D', got {window!r}"
        )
    measured = performance_over_time(labelled, window)
    estimated = estimated_performance_over_time(predictions, window)
    if measured.empty:
        return pd.DataFrame(columns=list(SIDE_BY_SIDE_COLUMNS))
    merged = measured.merge(
        estimated.drop(columns=["window_end", "n_decided", "uncertain_share"]),
        on="window_start",
        how="left",
    )
    merged["n"] = merged["n"].fillna(0).astype("int64")
    return merged[list(SIDE_BY_SIDE_COLUMNS)]


# -------------------------------------------------------------------------------------- images


def _sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_new(path: Path, data: bytes, *, replace: bool = False) -> bool:
    """Write ``data`` to ``path`` atomically (a temporary file, then one rename or link).

    Readers never see a half-written file. With ``replace`` False an existing file is never
    overwritten, even one created a moment ago by another process: the file is linked into
    place, which fails when the name is taken.

    Returns:
        False when ``path`` existed and was left as it is.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=".", suffix=".tmp", delete=False)
    temporary = Path(handle.name)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: check, then rename
            if path.exists():
                return False
            os.replace(temporary, path)
        return True
    finally:
        temporary.unlink(missing_ok=True)


def keep_labelled_image(kept_dir: str | os.PathLike, data: bytes, sha256: str) -> Path:
    """Keep a labelled image's bytes as ``<kept_dir>/<sha256>.<ext>`` (written atomically).

    The prediction log holds hashes, never image bytes; a copy kept when a label is given with
    the image in hand is what :func:`export_mistakes` finds later. Keeping the same image again
    changes nothing.

    Args:
        kept_dir: the folder (default :func:`labelled_images_dir`); created when missing.
        data: the image file's bytes.
        sha256: their SHA-256 (hex), as the predictor logs it for a file.

    Returns:
        The path of the kept file.

    Raises:
        InvalidArgumentError: ``sha256`` is not the hash of ``data``, or ``data`` is not an image
            format FakeScope accepts (the extension comes from the content, never a name).
    """
    if hashlib.sha256(data).hexdigest() != str(sha256).lower():
        raise InvalidArgumentError(
            f"sha256 {printable(sha256)!r} is not the SHA-256 of the image bytes given"
        )
    fmt = detect_format(data)
    if fmt is None:
        raise InvalidArgumentError(
            "the labelled file is not an image FakeScope accepts (JPEG, PNG, WebP, BMP, TIFF or "
            "GIF, recognised by its content)"
        )
    path = Path(kept_dir) / f"{sha256.lower()}{_EXTENSIONS[fmt]}"
    if path.is_file() and _sha256_of_file(path) == sha256.lower():
        return path
    # A file of that name with other bytes is damaged: the hash in its name says what it holds.
    _write_new(path, data, replace=True)
    return path


def _kept_images(kept_dir: Path | None, wanted: set[str]) -> dict[str, Path]:
    """The wanted hashes that ``kept_dir`` holds as ``<sha256>.<ext>`` (checked when read)."""
    found: dict[str, Path] = {}
    if kept_dir is None or not Path(kept_dir).is_dir():
        return found
    for path in sorted(Path(kept_dir).iterdir()):
        sha = path.stem.lower()
        if sha in wanted and sha not in found and path.suffix in _EXTENSIONS.values():
            found[sha] = path
    return found


def _search(dirs: Iterable[str | os.PathLike], wanted: set[str]) -> dict[str, Path]:
    """The wanted hashes found by hashing the image files under ``dirs`` (hidden ones skipped).

    Only files whose first bytes are an accepted image format are hashed, and the walk stops
    as soon as every hash is found.
    """
    found: dict[str, Path] = {}
    for root in dirs:
        for folder, subfolders, names in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
            for name in sorted(names):
                if len(found) == len(wanted):
                    return found
                path = Path(folder, name)
                if name.startswith(".") or not path.is_file():
                    continue
                try:
                    with open(path, "rb") as handle:
                        if detect_format(handle.read(32)) is None:
                            continue
                    sha = _sha256_of_file(path)
                except OSError:
                    continue
                if sha in wanted and sha not in found:
                    found[sha] = path
    return found


def _training_bytes(data: bytes) -> tuple[bytes, str] | None:
    """(bytes, extension) as the training loader reads them, or None for a non-image.

    GIF is judged by its first frame but not read by ``fakescope train``: that frame is
    written as PNG.
    """
    fmt = detect_format(data)
    if fmt is None:
        return None
    if fmt != "GIF":
        return data, _EXTENSIONS[fmt]
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        frame = image.convert("RGBA" if "transparency" in image.info else "RGB")
    out = io.BytesIO()
    frame.save(out, format="PNG")
    return out.getvalue(), ".png"


def _check_out_dir(out_dir: Path) -> None:
    """An export folder is new, empty, or holds only ``real/``, ``fake/`` and hidden entries."""
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidArgumentError(f"{printable(out_dir)} exists and is not a folder")
    if not out_dir.is_dir():
        return
    foreign = sorted(
        entry.name
        for entry in out_dir.iterdir()
        if not entry.name.startswith(".") and not (entry.name in TRUTHS and entry.is_dir())
    )
    if foreign:
        shown = ", ".join(printable(name) for name in foreign[:5]) + (
            ", ..." if len(foreign) > 5 else ""
        )
        raise InvalidArgumentError(
            f"{printable(out_dir)} holds other things ({shown}); export into a new or empty "
            "folder, or one with only real/ and fake/ sub-folders"
        )


@dataclass
class ExportSummary:
    """What :func:`export_mistakes` did.

    Attributes:
        out_dir: the folder written.
        written: images written per true class (``real``, ``fake``).
        already_there: images that the folder already held with the same bytes.
        not_found: hashes of mistakes whose image was neither kept nor under the search folders.
        not_overwritten: hashes whose file name was taken by a different file (left as it was).
        in_other_class: hashes already in the other class's folder (a label changed since an
            earlier export): not written, so no image is in both; move or delete it by hand.
        mistakes: distinct images selected (each image counted once, however often predicted).
    """

    out_dir: Path
    written: dict[str, int] = field(default_factory=lambda: {"real": 0, "fake": 0})
    already_there: int = 0
    not_found: list[str] = field(default_factory=list)
    not_overwritten: list[str] = field(default_factory=list)
    in_other_class: list[str] = field(default_factory=list)
    mistakes: int = 0

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


def select_mistakes(labelled: pd.DataFrame, *, include_uncertain: bool = False) -> dict[str, str]:
    """sha256 -> true label of each image whose labelled verdict was wrong.

    A prediction is a mistake when its verdict is ``fake`` or ``real`` and differs from its
    label (with ``include_uncertain``, an ``uncertain`` verdict counts too). One image predicted
    several times is selected once; its true label is its newest label among the labelled rows.

    Raises:
        InvalidArgumentError: a frame without ``sha256``, ``verdict`` and ``truth``.
    """
    if len(labelled) == 0:
        return {}
    _require(labelled, ("sha256", "verdict", "truth"), "export_mistakes")
    verdict = labelled["verdict"].astype(str)
    truth = labelled["truth"].astype(str)
    wrong = verdict.isin(DECIDED) & (verdict != truth)
    if include_uncertain:
        wrong |= verdict == "uncertain"
    order = [c for c in ("labelled_at", "label_id") if c in labelled.columns]
    newest = labelled.sort_values(order, kind="stable") if order else labelled
    latest_truth = dict(zip(newest["sha256"].astype(str), newest["truth"].astype(str)))
    return {sha: latest_truth[sha] for sha in dict.fromkeys(labelled.loc[wrong, "sha256"])}


def export_mistakes(
    labelled: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    search_dirs: Iterable[str | os.PathLike] = (),
    kept_dir: str | os.PathLike | None = None,
    include_uncertain: bool = False,
) -> ExportSummary:
    """Write the images the model got wrong to ``out_dir/real/`` and ``out_dir/fake/``.

    Each image goes to the folder of its true label as ``<sha256>.<ext>``: the layout
    ``fakescope train DATA`` and ``fakescope evaluate DATA`` read. The bytes come from the kept
    copies in ``kept_dir`` (:func:`keep_labelled_image`), else from the image files under
    ``search_dirs`` whose SHA-256 matches; every file is checked against its hash before it is
    written. A GIF is written as a PNG of its first frame (the frame that was judged).

    Nothing is ever overwritten or deleted: an existing file with the same bytes is counted in
    ``already_there``; a different file with that name is left and reported; an image already in
    the other class's folder is reported and not written again. ``out_dir`` must be new, empty,
    or hold only ``real/`` and ``fake/`` (and hidden entries): exporting into a folder of
    something else is refused, so adding to an earlier export or to a training set works and a
    mistyped path does not fill a home folder.

    Args:
        labelled: :meth:`PredictionStore.labelled_predictions` (``sha256``, ``verdict``,
            ``truth``; ``labelled_at`` picks the newest label of an image).
        out_dir: the folder to write.
        search_dirs: folders searched (recursively) for images not kept.
        kept_dir: the kept labelled images (default: none; the CLI passes
            :func:`labelled_images_dir`).
        include_uncertain: also export labelled images that got an ``uncertain`` verdict.

    Returns:
        An :class:`ExportSummary`.

    Raises:
        InvalidArgumentError: ``out_dir`` is not a folder FakeScope may write into, or the
            frame lacks the columns.
        OSError: a file cannot be written.
    """
    out = Path(out_dir)
    _check_out_dir(out)
    mistakes = select_mistakes(labelled, include_uncertain=include_uncertain)
    summary = ExportSummary(out_dir=out, mistakes=len(mistakes))
    if not mistakes:
        return summary
    wanted = set(mistakes)
    sources = _kept_images(Path(kept_dir) if kept_dir is not None else None, wanted)
    missing = wanted - set(sources)
    if missing:
        sources.update(_search(search_dirs, missing))
    for sha, truth in mistakes.items():
        path = sources.get(sha)
        data = path.read_bytes() if path is not None else None
        if data is None or hashlib.sha256(data).hexdigest() != sha:
            summary.not_found.append(sha)
            continue
        prepared = _training_bytes(data)
        if prepared is None:
            summary.not_found.append(sha)
            continue
        payload, extension = prepared
        other = "fake" if truth == "real" else "real"
        if any((out / other).glob(f"{sha}.*")):
            summary.in_other_class.append(sha)
            continue
        target = out / truth / f"{sha}{extension}"
        if target.is_file() and target.read_bytes() == payload:
            summary.already_there += 1
        elif _write_new(target, payload):
            summary.written[truth] += 1
        elif target.read_bytes() == payload:
            summary.already_there += 1  # written by someone else in the meantime
        else:
            summary.not_overwritten.append(sha)
    return summary


def mistakes_zip(
    labelled: pd.DataFrame, kept_dir: str | os.PathLike, *, include_uncertain: bool = False
) -> tuple[bytes, ExportSummary]:
    """The labelled mistakes as a zip of ``real/`` and ``fake/`` (what the Monitor page offers
    where nobody can run ``fakescope labels mistakes``, e.g. on a Space).

    The images come from the kept labelled copies only (the log holds no image bytes).

    Returns:
        (the zip's bytes, what :func:`export_mistakes` did).
    """
    import zipfile

    with tempfile.TemporaryDirectory(prefix="fakescope-mistakes-") as folder:
        out = Path(folder) / "mistakes"
        summary = export_mistakes(
            labelled, out, kept_dir=kept_dir, include_uncertain=include_uncertain
        )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(out).as_posix())
    return buffer.getvalue(), summary
