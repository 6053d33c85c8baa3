"""The hostile corpus through :func:`fakescope.images.load_image`: every case gets what it
expects (an image, or a reason whose message says what is accepted) within a CPU-time bound."""

from __future__ import annotations

import hashlib
import time

import pytest

from fakescope.errors import InvalidImageError
from fakescope.images import load_image
from hostile_corpus import ACCEPT, REJECT, Case, build_corpus

pytestmark = pytest.mark.unit

# A safety bound per file, not a benchmark: the slowest case takes about 0.6 s of CPU here.
MAX_CPU_SECONDS = 2.0
CORPUS = build_corpus()


def test_corpus_is_large_deterministic_and_covers_both_outcomes() -> None:
    again = build_corpus()
    digest = [hashlib.sha256(case.data).hexdigest() for case in CORPUS]

    assert len(CORPUS) >= 100
    assert [hashlib.sha256(case.data).hexdigest() for case in again] == digest
    assert {case.expect for case in CORPUS} == {ACCEPT, REJECT}
    assert len({case.name for case in CORPUS}) == len(CORPUS)
    reasons = {case.reason for case in CORPUS if case.reason}
    assert {"corrupt", "too_complex", "too_many_pixels", "too_small", "empty"} <= reasons


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_corpus_case_gets_its_expected_outcome_in_time(case: Case) -> None:
    start = time.process_time()
    try:
        loaded = load_image(case.data)
    except InvalidImageError as error:
        outcome, reason, message = REJECT, error.reason, str(error)
    else:
        outcome, reason, message = ACCEPT, None, ""
        assert loaded.image.mode == "RGB"
        assert loaded.image.width >= 1 and loaded.image.height >= 1
    seconds = time.process_time() - start

    assert outcome == case.expect, message
    if case.reason is not None:
        assert reason == case.reason, message
    if outcome == REJECT:
        assert "Accepted: JPEG, PNG, WebP, BMP, TIFF or GIF images" in message
    assert seconds < MAX_CPU_SECONDS
