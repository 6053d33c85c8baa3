"""Unit tests of fakescope.feedback: feedback to truth, measured and estimated performance, and the
export of mistakes as a training folder."""

from __future__ import annotations

import hashlib
import io
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fakescope.config import Settings
from fakescope.errors import InvalidArgumentError
from fakescope.feedback import (
    ESTIMATED_COLUMNS,
    PERFORMANCE_COLUMNS,
    SIDE_BY_SIDE_COLUMNS,
    TRAINING_EXTENSIONS,
    estimated_performance_over_time,
    export_mistakes,
    keep_labelled_image,
    labelled_images_dir,
    mistakes_zip,
    performance_over_time,
    select_mistakes,
    side_by_side,
    truth_from_feedback,
)

pytestmark = pytest.mark.unit

T0 = pd.Timestamp("2025-03-01 10:00", tz="UTC")


# -------------------------------------------------------------------------------------- feedback


@pytest.mark.parametrize(
    "verdict, feedback, truth",
    [
        ("fake", "right", "fake"),
        ("fake", "wrong", "real"),
        ("real", "right", "real"),
        ("real", "wrong", "fake"),
    ],
)
def test_truth_from_feedback(verdict: str, feedback: str, truth: str) -> None:
    assert truth_from_feedback(verdict, feedback) == truth


@pytest.mark.parametrize("feedback", ["right", "wrong"])
def test_feedback_on_uncertain_asks_for_the_true_label(feedback: str) -> None:
    with pytest.raises(InvalidArgumentError, match="give the true label instead"):
        truth_from_feedback("uncertain", feedback)


def test_feedback_bad_values_name_the_accepted_ones() -> None:
    with pytest.raises(InvalidArgumentError, match="'right', 'wrong'"):
        truth_from_feedback("fake", "yes")
    with pytest.raises(ValueError, match="'fake', 'real' or 'uncertain'"):
        truth_from_feedback("maybe", "right")


def test_labelled_images_dir_is_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert labelled_images_dir(settings) == tmp_path / "labelled_images"


# -------------------------------------------------------------------------- measured performance


def labelled_frame(rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    """(minutes after T0, verdict, truth) -> a frame shaped like labelled_predictions()."""
    return pd.DataFrame(
        {
            "recorded_at": [T0 + pd.Timedelta(minutes=m) for m, _, _ in rows],
            "verdict": [v for _, v, _ in rows],
            "truth": [t for _, _, t in rows],
        }
    )


HAND_MADE = [
    (0, "fake", "fake"),  # TP
    (5, "fake", "real"),  # FP
    (10, "real", "real"),  # TN
    (15, "real", "fake"),  # FN
    (20, "real", "real"),  # TN
    (25, "uncertain", "fake"),
    (130, "uncertain", "real"),  # 12:10, a window with nothing decided
]


def test_performance_over_time_exact_numbers() -> None:
    frame = performance_over_time(labelled_frame(HAND_MADE), window="1h")

    assert list(frame.columns) == list(PERFORMANCE_COLUMNS)
    assert frame["window_start"].tolist() == [T0, T0 + pd.Timedelta(hours=2)]  # 11:00 is empty
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["n_labelled"], first["n_decided"]) == (6, 5)
    assert first["accuracy"] == pytest.approx(3 / 5)
    assert first["false_positive_rate"] == pytest.approx(1 / 3)
    assert first["false_negative_rate"] == pytest.approx(1 / 2)
    assert first["uncertain_share"] == pytest.approx(1 / 6)
    assert (second["n_labelled"], second["n_decided"]) == (1, 0)
    assert math.isnan(second["accuracy"]) and math.isnan(second["false_positive_rate"])
    assert second["uncertain_share"] == 1.0


def test_performance_over_row_windows() -> None:
    frame = performance_over_time(labelled_frame(HAND_MADE), window=4)

    assert frame["n_labelled"].tolist() == [4, 3]
    assert frame["accuracy"].tolist() == pytest.approx([0.5, 1.0])
    assert frame["window_end"].iloc[0] == T0 + pd.Timedelta(minutes=15)


@pytest.mark.parametrize("window", ["soon", "0h", 0, -3, True, 1.5])
def test_performance_bad_window_is_refused(window: object) -> None:
    with pytest.raises(InvalidArgumentError, match="window"):
        performance_over_time(labelled_frame(HAND_MADE), window=window)  # type: ignore[arg-type]


def test_performance_on_empty_input_gives_empty_frames() -> None:
    assert list(performance_over_time(None).columns) == list(PERFORMANCE_COLUMNS)
    assert estimated_performance_over_time(pd.DataFrame()).empty


def test_performance_frame_without_truth_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="truth"):
        performance_over_time(labelled_frame(HAND_MADE).drop(columns="truth"))


# ------------------------------------------------------------------------- estimated (CBPE)


def predictions_frame(rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "recorded_at": [T0 + pd.Timedelta(minutes=m) for m, _, _ in rows],
            "verdict": [v for _, v, _ in rows],
            "fake_probability": [p for _, _, p in rows],
        }
    )


def test_estimated_performance_exact_numbers() -> None:
    frame = estimated_performance_over_time(
        predictions_frame(
            [
                (0, "fake", 0.9),
                (1, "fake", 0.7),
                (2, "real", 0.2),
                (3, "real", 0.4),
                (4, "uncertain", 0.5),
            ]
        ),
        window="1h",
    )

    assert list(frame.columns) == list(ESTIMATED_COLUMNS)
    row = frame.iloc[0]
    assert (row["n"], row["n_decided"]) == (5, 4)
    assert row["estimated_accuracy"] == pytest.approx((0.9 + 0.7 + 0.8 + 0.6) / 4)
    # E[FP] = 0.1 + 0.3; E[real] = 0.1 + 0.3 + 0.8 + 0.6
    assert row["estimated_false_positive_rate"] == pytest.approx(0.4 / 1.8)
    # E[FN] = 0.2 + 0.4; E[fake] = 0.9 + 0.7 + 0.2 + 0.4
    assert row["estimated_false_negative_rate"] == pytest.approx(0.6 / 2.2)
    assert row["uncertain_share"] == pytest.approx(0.2)


def synthetic_stream(n: int, seed: int, calibrated: bool) -> pd.DataFrame:
    """Predictions with probabilities p and true labels drawn as fake with probability p
    (calibrated) or 0.5 + 0.4 (p - 0.5) (an overconfident model: 0.95 means 0.68)."""
    rng = np.random.default_rng(seed)
    p = rng.beta(0.6, 0.6, size=n)
    truth_p = p if calibrated else 0.5 + 0.4 * (p - 0.5)
    truth = np.where(rng.random(n) < truth_p, "fake", "real")
    verdict = np.where(p >= 0.6, "fake", np.where(p < 0.4, "real", "uncertain"))
    return pd.DataFrame(
        {
            "recorded_at": T0 + pd.to_timedelta(np.arange(n), unit="s"),
            "verdict": verdict,
            "fake_probability": p,
            "truth": truth,
        }
    )


def test_cbpe_matches_labelled_performance_on_a_calibrated_stream() -> None:
    stream = synthetic_stream(40_000, seed=7, calibrated=True)

    measured = performance_over_time(stream, window="1D").iloc[0]
    estimated = estimated_performance_over_time(stream, window="1D").iloc[0]

    assert estimated["estimated_accuracy"] == pytest.approx(measured["accuracy"], abs=0.02)
    assert estimated["estimated_false_positive_rate"] == pytest.approx(
        measured["false_positive_rate"], abs=0.02
    )
    assert estimated["estimated_false_negative_rate"] == pytest.approx(
        measured["false_negative_rate"], abs=0.02
    )
    assert estimated["uncertain_share"] == measured["uncertain_share"]


def test_cbpe_is_only_as_good_as_the_calibration() -> None:
    stream = synthetic_stream(40_000, seed=7, calibrated=False)

    measured = performance_over_time(stream, window="1D").iloc[0]
    estimated = estimated_performance_over_time(stream, window="1D").iloc[0]

    assert abs(estimated["estimated_accuracy"] - measured["accuracy"]) > 0.1


def test_side_by_side_keeps_windows_with_labels() -> None:
    predictions = predictions_frame(
        [(0, "fake", 0.9), (10, "real", 0.2), (20, "fake", 0.8), (70, "real", 0.1)]
    )
    labelled = predictions.iloc[[0, 1]].assign(truth=["fake", "fake"])

    frame = side_by_side(labelled, predictions, window="1h")

    assert list(frame.columns) == list(SIDE_BY_SIDE_COLUMNS)
    assert frame["window_start"].tolist() == [T0]  # 11:00 has predictions but no label
    row = frame.iloc[0]
    assert (row["n_labelled"], row["n"]) == (2, 3)
    assert row["accuracy"] == 0.5
    assert row["estimated_accuracy"] == pytest.approx((0.9 + 0.8 + 0.8) / 3)
    assert row["false_negative_rate"] == 0.5
    with pytest.raises(InvalidArgumentError, match="time window"):
        side_by_side(labelled, predictions, window=10)  # type: ignore[arg-type]
    assert side_by_side(labelled.iloc[:0], predictions).empty


# ---------------------------------------------------------------------------- images / export


def image_bytes(seed: int, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, size=(40, 48, 3), dtype=np.uint8))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_keep_labelled_image_is_named_by_hash_and_idempotent(tmp_path: Path) -> None:
    data = image_bytes(1, "JPEG")
    kept_dir = tmp_path / "kept"

    path = keep_labelled_image(kept_dir, data, digest(data))
    again = keep_labelled_image(kept_dir, data, digest(data).upper())

    assert path == again == kept_dir / f"{digest(data)}.jpg"
    assert path.read_bytes() == data
    assert sorted(p.name for p in kept_dir.iterdir()) == [path.name]  # no temporary file left


def test_keep_labelled_image_repairs_a_damaged_copy(tmp_path: Path) -> None:
    data = image_bytes(1)
    damaged = tmp_path / f"{digest(data)}.png"
    damaged.write_bytes(b"not the image")

    keep_labelled_image(tmp_path, data, digest(data))

    assert damaged.read_bytes() == data


def test_keep_labelled_image_refuses_wrong_hash_and_non_images(tmp_path: Path) -> None:
    data = image_bytes(1)
    with pytest.raises(InvalidArgumentError, match="not the SHA-256"):
        keep_labelled_image(tmp_path, data, "0" * 64)
    text = b"hello, I am text"
    with pytest.raises(InvalidArgumentError, match="not an image"):
        keep_labelled_image(tmp_path, text, digest(text))
    assert list(tmp_path.iterdir()) == []


def mistakes_frame(rows: list[tuple[bytes, str, str]]) -> pd.DataFrame:
    """(image bytes, verdict, truth) -> a labelled_predictions()-like frame."""
    return pd.DataFrame(
        {
            "sha256": [digest(data) for data, _, _ in rows],
            "verdict": [v for _, v, _ in rows],
            "truth": [t for _, _, t in rows],
            "labelled_at": [T0 + pd.Timedelta(minutes=i) for i in range(len(rows))],
            "label_id": list(range(1, len(rows) + 1)),
        }
    )


@pytest.fixture
def images() -> dict[str, bytes]:
    return {
        "kept_fp": image_bytes(1, "PNG"),  # called fake, really real; kept
        "searched_fn": image_bytes(2, "JPEG"),  # called real, really fake; under a search dir
        "right": image_bytes(3, "PNG"),
        "uncertain": image_bytes(4, "PNG"),
        "lost": image_bytes(5, "PNG"),  # a mistake whose image is nowhere
        "gif_fn": image_bytes(6, "GIF"),
    }


@pytest.fixture
def labelled(images: dict[str, bytes]) -> pd.DataFrame:
    return mistakes_frame(
        [
            (images["kept_fp"], "fake", "real"),
            (images["searched_fn"], "real", "fake"),
            (images["right"], "fake", "fake"),
            (images["uncertain"], "uncertain", "real"),
            (images["lost"], "real", "fake"),
            (images["gif_fn"], "real", "fake"),
            (images["searched_fn"], "real", "fake"),  # predicted twice: exported once
        ]
    )


@pytest.fixture
def sources(tmp_path: Path, images: dict[str, bytes]) -> tuple[Path, Path]:
    kept = tmp_path / "kept"
    keep_labelled_image(kept, images["kept_fp"], digest(images["kept_fp"]))
    keep_labelled_image(kept, images["gif_fn"], digest(images["gif_fn"]))
    search = tmp_path / "uploads"
    (search / "deep" / "er").mkdir(parents=True)
    (search / "deep" / "er" / "any-name.bin").write_bytes(images["searched_fn"])
    (search / "uncertain.png").write_bytes(images["uncertain"])
    (search / "notes.txt").write_text("not an image")
    return kept, search


def test_export_mistakes_writes_a_training_folder(
    tmp_path: Path, images: dict[str, bytes], labelled: pd.DataFrame, sources: tuple[Path, Path]
) -> None:
    from fakescope.training.dataset import list_image_folder, open_rgb

    kept, search = sources
    out = tmp_path / "mistakes"

    summary = export_mistakes(labelled, out, search_dirs=[search], kept_dir=kept)

    assert summary.mistakes == 4
    assert summary.written == {"real": 1, "fake": 2}
    assert summary.not_found == [digest(images["lost"])]
    assert (out / "real" / f"{digest(images['kept_fp'])}.png").read_bytes() == images["kept_fp"]
    assert (out / "fake" / f"{digest(images['searched_fn'])}.jpg").read_bytes() == images[
        "searched_fn"
    ]
    gif_as_png = out / "fake" / f"{digest(images['gif_fn'])}.png"
    assert gif_as_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = list_image_folder(out)
    assert sorted((item.path.name, item.label) for item in loaded) == sorted(
        [
            (f"{digest(images['kept_fp'])}.png", 0),
            (f"{digest(images['searched_fn'])}.jpg", 1),
            (gif_as_png.name, 1),
        ]
    )
    for item in loaded:
        assert open_rgb(item.path).size == (48, 40)


def test_export_mistakes_again_writes_nothing_new(
    tmp_path: Path, labelled: pd.DataFrame, sources: tuple[Path, Path]
) -> None:
    kept, search = sources
    out = tmp_path / "mistakes"
    export_mistakes(labelled, out, search_dirs=[search], kept_dir=kept)

    again = export_mistakes(labelled, out, search_dirs=[search], kept_dir=kept)

    assert again.written == {"real": 0, "fake": 0}
    assert again.already_there == 3


def test_export_mistakes_with_uncertain(
    tmp_path: Path, images: dict[str, bytes], labelled: pd.DataFrame, sources: tuple[Path, Path]
) -> None:
    kept, search = sources

    summary = export_mistakes(
        labelled, tmp_path / "out", search_dirs=[search], kept_dir=kept, include_uncertain=True
    )

    assert summary.written == {"real": 2, "fake": 2}
    assert (tmp_path / "out" / "real" / f"{digest(images['uncertain'])}.png").is_file()


def test_export_mistakes_never_overwrites_and_reports_class_changes(
    tmp_path: Path, images: dict[str, bytes], labelled: pd.DataFrame, sources: tuple[Path, Path]
) -> None:
    kept, search = sources
    out = tmp_path / "out"
    taken = out / "real" / f"{digest(images['kept_fp'])}.png"
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's file")
    (out / "real" / f"{digest(images['searched_fn'])}.jpg").write_bytes(images["searched_fn"])

    summary = export_mistakes(labelled, out, search_dirs=[search], kept_dir=kept)

    assert taken.read_bytes() == b"someone else's file"
    assert summary.not_overwritten == [digest(images["kept_fp"])]
    assert summary.in_other_class == [digest(images["searched_fn"])]
    assert not (out / "fake" / f"{digest(images['searched_fn'])}.jpg").exists()


def test_export_mistakes_refuses_a_folder_of_something_else(
    tmp_path: Path, labelled: pd.DataFrame
) -> None:
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("...")
    (tmp_path / "file").write_text("x")

    with pytest.raises(InvalidArgumentError, match=r"holds other things \(thesis.tex\)"):
        export_mistakes(labelled, tmp_path / "home")
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        export_mistakes(labelled, tmp_path / "file")
    assert sorted(p.name for p in (tmp_path / "home").iterdir()) == ["thesis.tex"]


def test_export_mistakes_into_a_folder_with_only_classes_is_allowed(
    tmp_path: Path, labelled: pd.DataFrame, sources: tuple[Path, Path]
) -> None:
    kept, _ = sources
    out = tmp_path / "train"
    (out / "real").mkdir(parents=True)
    (out / ".DS_Store").write_bytes(b"")

    assert export_mistakes(labelled, out, kept_dir=kept).written == {"real": 1, "fake": 1}


def test_select_mistakes_takes_the_newest_label_of_an_image(images: dict[str, bytes]) -> None:
    frame = mistakes_frame(
        [(images["right"], "fake", "real"), (images["right"], "fake", "fake")]
    )  # relabelled: the image really is fake, so the verdict was right after all

    assert select_mistakes(frame) == {digest(images["right"]): "fake"}


def test_training_extensions_match_the_training_loader() -> None:
    from fakescope.training.dataset import IMAGE_EXTENSIONS

    assert TRAINING_EXTENSIONS == IMAGE_EXTENSIONS


def test_export_with_a_real_store(tmp_path: Path, images: dict[str, bytes]) -> None:
    from fakescope.store import PredictionStore
    from fakescope.verdicts import Prediction

    store = PredictionStore(f"sqlite:///{tmp_path / 'log.db'}")
    data = images["kept_fp"]
    store.record_prediction(
        Prediction("fake", 0.9, {"Fake": 0.9}, "demo", "v1", 5.0, digest(data)),
        source="cli",
        recorded_at=datetime(2025, 3, 1, tzinfo=timezone.utc) + timedelta(minutes=1),
    )
    store.record_label(truth="real", prediction_id=1)
    kept = keep_labelled_image(tmp_path / "kept", data, digest(data)).parent

    summary = export_mistakes(store.labelled_predictions(), tmp_path / "out", kept_dir=kept)

    assert summary.written == {"real": 1, "fake": 0}


def test_mistakes_zip_holds_the_kept_mistakes_in_real_and_fake(
    images: dict[str, bytes], labelled: pd.DataFrame, sources: tuple[Path, Path]
) -> None:
    import io
    import zipfile

    kept, _ = sources
    data, summary = mistakes_zip(labelled, kept)
    names = sorted(zipfile.ZipFile(io.BytesIO(data)).namelist())
    # Only the kept images: the page cannot search a user's folders.
    assert names == sorted(
        [f"real/{digest(images['kept_fp'])}.png", f"fake/{digest(images['gif_fn'])}.png"]
    )
    assert summary.written == {"real": 1, "fake": 1}
    assert digest(images["searched_fn"]) in summary.not_found
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.read(f"real/{digest(images['kept_fp'])}.png") == images["kept_fp"]
