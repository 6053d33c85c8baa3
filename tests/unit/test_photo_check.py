"""fakescope.photo_check: drawn images (charts, screenshots, drawings) are told from photographs,
on the non-photo corpus, the committed held-out photos, the dashboard samples and odd inputs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO_ROOT, encode, photo_like
from hostile_corpus import ACCEPT, build_corpus
from hostile_corpus import photo as hostile_photo
from nonphoto_corpus import NonPhoto
from nonphoto_corpus import build_corpus as build_nonphotos
from PIL import Image

from fakescope.config import Settings
from fakescope.errors import ConfigError
from fakescope.images import load_image
from fakescope.photo_check import (
    BLANK_IMAGE,
    FLAT_SHARE_MIN,
    NOT_A_PHOTOGRAPH,
    TOP_COLOUR_SHARE_MIN,
    PhotoCheck,
    check_photograph,
)
from fakescope.verdicts import Prediction

pytestmark = pytest.mark.unit

NONPHOTOS = build_nonphotos()
HELDOUT_PHOTOS = sorted((REPO_ROOT / "tests" / "quality" / "heldout_photos").glob("*.jpg"))
SAMPLES = sorted(
    p for p in (REPO_ROOT / "src" / "fakescope" / "samples").iterdir() if p.suffix != ".md"
)


def _check(data: bytes) -> PhotoCheck:
    """Decoded as the Predictor decodes it, then checked."""
    return check_photograph(load_image(data).image)


# -- the corpus -------------------------------------------------------------------------------


def test_nonphoto_corpus_is_deterministic_and_covers_kinds_sizes_and_encodings() -> None:
    kinds = {item.kind for item in NONPHOTOS}
    suffixes = {item.suffix for item in NONPHOTOS}
    sides = [max(load_image(item.data).image.size) for item in NONPHOTOS]

    assert len(NONPHOTOS) >= 30
    assert [item.data for item in build_nonphotos()] == [item.data for item in NONPHOTOS]
    assert len({item.name for item in NONPHOTOS}) == len(NONPHOTOS)
    assert kinds == {
        "scatter", "line_chart", "bar_chart", "pie_chart", "text_document", "terminal",
        "ui_mock", "diagram", "logo", "cartoon",
    }  # fmt: skip
    assert suffixes == {".png", ".jpg"}
    assert min(sides) <= 260 and max(sides) >= 1500


@pytest.mark.parametrize("item", NONPHOTOS, ids=lambda item: item.name)
def test_every_drawn_image_is_not_a_photograph(item: NonPhoto) -> None:
    result = _check(item.data)

    assert not result.is_photograph, result
    assert result.reason == NOT_A_PHOTOGRAPH
    assert result.flat_share >= FLAT_SHARE_MIN and result.top_colour_share >= TOP_COLOUR_SHARE_MIN


def test_no_held_out_photo_is_flagged() -> None:
    assert len(HELDOUT_PHOTOS) == 21
    flagged = {p.name: r for p in HELDOUT_PHOTOS if not (r := _check(p.read_bytes())).is_photograph}
    assert flagged == {}


def test_no_dashboard_sample_is_flagged() -> None:
    assert len(SAMPLES) >= 8
    flagged = {p.name: r for p in SAMPLES if not (r := _check(p.read_bytes())).is_photograph}
    assert flagged == {}


def test_the_photo_like_test_images_stay_photographs() -> None:
    # Other tests score these as photographs and expect a verdict from the model.
    images = [encode(photo_like(seed=s), "JPEG", quality=90) for s in range(5)]
    images += [encode(hostile_photo(seed=s), "PNG") for s in range(5)]
    assert all(_check(data).is_photograph for data in images)


# -- the two signals ------------------------------------------------------------------------


def test_measures_flat_blocks_and_top_colours_exactly() -> None:
    # Left half white, right half black, 16 x 8: four flat 4x4 blocks of eight, two colours.
    pixels = np.zeros((8, 16, 3), np.uint8)
    pixels[:, :8] = 255
    pixels[4:, 12:] = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)  # one block not flat

    result = check_photograph(Image.fromarray(pixels))

    assert result.flat_share == pytest.approx(7 / 8)
    assert result.top_colour_share == pytest.approx((64 + 48 + 6) / 128)  # white, black, 6 singles
    assert result.distinct_colours == 18


def test_flat_blocks_alone_do_not_make_a_drawing() -> None:
    # A photo-like image upscaled 4x by nearest neighbour: every 4x4 block is flat, but it has
    # thousands of colours.
    small = photo_like(60, 50, seed=1)
    result = check_photograph(small.resize((240, 200), Image.Resampling.NEAREST))

    assert result.flat_share == 1.0
    assert result.top_colour_share < TOP_COLOUR_SHARE_MIN
    assert result.is_photograph


def test_few_colours_alone_do_not_make_a_drawing() -> None:
    # A greyscale photograph has at most 256 colours but no flat blocks.
    grey = load_image(HELDOUT_PHOTOS[0].read_bytes()).image.convert("L").convert("RGB")
    result = check_photograph(grey)

    assert result.distinct_colours <= 256
    assert result.flat_share < FLAT_SHARE_MIN
    assert result.is_photograph


@pytest.mark.parametrize(
    ("size", "colour"), [((64, 64), "white"), ((1, 1), "red"), ((3, 500), "black")]
)
def test_a_single_colour_is_a_blank_image(size: tuple[int, int], colour: str) -> None:
    result = check_photograph(Image.new("RGB", size, colour))

    assert not result.is_photograph
    assert result.reason == BLANK_IMAGE
    assert result.top_colour_share == 1.0


def test_other_modes_are_converted_and_large_images_are_sampled() -> None:
    assert not check_photograph(Image.new("L", (40, 40), 7)).is_photograph
    # 6000 x 4000 drawn image: strips and a nearest-neighbour copy, never the whole array.
    canvas = Image.new("RGB", (6000, 4000), "white")
    canvas.paste(photo_like(1500, 1000), (100, 100))
    result = check_photograph(canvas)
    assert not result.is_photograph
    assert 0.85 < result.flat_share < 0.97  # 1/16 of the area is the photo


def test_every_accepted_hostile_file_gets_a_check_without_crashing() -> None:
    for case in build_corpus():
        if case.expect != ACCEPT:
            continue
        result = _check(case.data)
        assert 0.0 <= result.flat_share <= 1.0, case.name
        assert 0.0 < result.top_colour_share <= 1.0, case.name
        assert result.distinct_colours >= 1, case.name
        assert result.is_photograph == (result.reason == ""), case.name


# -- setting and prediction -------------------------------------------------------------------


def test_setting_defaults_on_and_turns_off() -> None:
    assert Settings.from_env({}).photo_check is True
    assert Settings.from_env({"FAKESCOPE_PHOTO_CHECK": "0"}).photo_check is False
    assert Settings.from_env({"FAKESCOPE_PHOTO_CHECK": "on"}).photo_check is True
    with pytest.raises(ConfigError, match="FAKESCOPE_PHOTO_CHECK must be 1/true/yes/on"):
        Settings.from_env({"FAKESCOPE_PHOTO_CHECK": "maybe"})


def _prediction(reason: str | None) -> Prediction:
    return Prediction(
        verdict="uncertain" if reason else "real",
        fake_probability=0.02,
        scores={"real": 0.98, "fake": 0.02},
        model_name="m",
        model_version="v1",
        latency_ms=3.0,
        sha256="0" * 64,
        reason=reason,
    )


def test_a_prediction_with_a_reason_stays_uncertain_at_any_threshold() -> None:
    judged = _prediction(NOT_A_PHOTOGRAPH)

    assert judged.relabel(0.9, 0.0).verdict == "uncertain"
    assert judged.relabel(0.9, 0.0).fake_probability == 0.02
    assert judged.to_dict()["reason"] == NOT_A_PHOTOGRAPH
    assert _prediction(None).relabel(0.01, 0.0).verdict == "fake"
    assert _prediction(None).to_dict()["reason"] is None
