"""Embeddings: the head's input, projected, identical on every runtime, saved with the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import build_resnet_model, encode, photo_like

from fakescope import Predictor
from fakescope.config import Settings
from fakescope.drift import ReferenceProfile
from fakescope.embedding import (
    PROJECTION_FILE,
    EmbeddingError,
    PooledCapture,
    Projection,
    head_input_dim,
    head_layer,
    load_projection,
    pca_projection,
    random_projection,
)
from fakescope.errors import DriftError
from fakescope.model import load_model
from fakescope.reference import MIN_REFERENCE_IMAGES, PROJECTION_SHARE, build_reference

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def images() -> list[bytes]:
    return [encode(photo_like(160 + 8 * s, 120, seed=s)) for s in range(4)]


def settings(runtime: str, tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"FAKESCOPE_RUNTIME": runtime, "FAKESCOPE_CACHE_DIR": str(tmp_path / "cache")}
    )


def test_head_layer_is_the_linear_that_makes_the_logits(vit_dir: Path) -> None:
    model = load_model(str(vit_dir))
    head = head_layer(model.module)
    assert head is model.module.classifier
    assert head_input_dim(model.module) == model.module.config.hidden_size


def test_pooled_capture_sees_the_heads_input(vit_dir: Path) -> None:
    model = load_model(str(vit_dir))
    module = model.module
    pixels = torch.rand(2, 3, *model.spec.input_size)
    with torch.inference_mode(), PooledCapture(module) as capture:
        logits = module(pixel_values=pixels).logits
        # The head applied to the captured input gives the logits back: it is the head's input.
        assert torch.allclose(module.classifier(capture.pooled), logits, atol=1e-5)
    # The hook is gone afterwards.
    assert not module.classifier._forward_pre_hooks


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_predictions_carry_embeddings_of_the_models_space(
    resnet_dir: Path, images: list[bytes], runtime: str, tmp_path: Path
) -> None:
    predictor = Predictor(load_model(str(resnet_dir)), settings(runtime, tmp_path))
    assert predictor.info.extra["acceleration"]["runtime"] == runtime
    out = predictor.predict(images)
    embeddings = np.array([p.embedding for p in out])
    assert embeddings.shape == (len(images), predictor.projection.output_dim)
    assert {p.embedding_space for p in out} == {predictor.projection.space}
    assert len({tuple(np.round(e, 5)) for e in embeddings}) == len(images)


def test_torch_and_openvino_give_the_same_embeddings(
    resnet_dir: Path, images: list[bytes], tmp_path: Path
) -> None:
    found = {}
    for runtime in ("torch", "openvino"):
        predictor = Predictor(load_model(str(resnet_dir)), settings(runtime, tmp_path))
        found[runtime] = np.array([p.embedding for p in predictor.predict(images)])
    assert np.allclose(found["torch"], found["openvino"], atol=1e-3)


def test_random_projection_is_fixed_and_its_id_follows_its_numbers() -> None:
    first, second = random_projection(64), random_projection(64)
    assert first.space == second.space and first.space.startswith("random32-")
    edited = Projection("random", first.mean, first.components * 1.001)
    assert edited.space != first.space
    assert random_projection(8).output_dim == 8  # never more dimensions than it is given


def test_pca_projection_keeps_the_strongest_directions() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(300, 10)) * np.array([10, 5, 1, 1, 1, 1, 1, 1, 1, 1])
    projection = pca_projection(data, output_dim=2)
    assert abs(projection.components[0, 0]) > 0.99 and abs(projection.components[1, 1]) > 0.99
    projected = projection.project(data)
    assert projected.shape == (300, 2)
    assert projected[:, 0].std() > projected[:, 1].std() > 3
    # Same data, same file.
    assert pca_projection(data, output_dim=2).space == projection.space


def test_projection_file_round_trips_and_refuses_damage(tmp_path: Path) -> None:
    projection = pca_projection(np.random.default_rng(1).normal(size=(50, 6)), output_dim=3)
    projection.save(tmp_path)
    assert load_projection(tmp_path, 6).space == projection.space
    with pytest.raises(EmbeddingError, match="head takes 7"):
        load_projection(tmp_path, 7)
    data = json.loads((tmp_path / PROJECTION_FILE).read_text())
    data["components"][0][0] += 1.0
    (tmp_path / PROJECTION_FILE).write_text(json.dumps(data))
    with pytest.raises(EmbeddingError, match="do not match its id"):
        load_projection(tmp_path, 6)
    (tmp_path / PROJECTION_FILE).write_text('{"method": "pca"}')
    with pytest.raises(EmbeddingError, match="must hold"):
        load_projection(tmp_path, 6)
    assert load_projection(tmp_path / "missing", 6).method == "random"


def test_a_saved_projection_is_what_the_predictor_uses(tmp_path: Path, images: list[bytes]):
    folder = build_resnet_model(tmp_path / "m", labels={0: "fake", 1: "real"}, seed=4)
    dim = head_input_dim(load_model(str(folder)).module)
    projection = pca_projection(np.random.default_rng(2).normal(size=(40, dim)), output_dim=5)
    projection.save(folder)
    predictor = Predictor(load_model(str(folder)), settings("torch", tmp_path))
    assert predictor.projection.space == projection.space
    assert len(predictor.predict(images[0])[0].embedding) == 5


def test_build_reference_fits_pca_and_switches_the_predictor(tmp_path: Path) -> None:
    folder = build_resnet_model(tmp_path / "m", labels={0: "fake", 1: "real"}, seed=5)
    predictor = Predictor(load_model(str(folder)), settings("torch", tmp_path))
    stream = [
        (f"img{i}.jpg", encode(photo_like(96 + i % 7 * 8, 80, seed=i), quality=70 + i % 25))
        for i in range(MIN_REFERENCE_IMAGES + 10)
    ]
    built = build_reference(predictor, stream, description="test photos", batch_size=32)
    profile = built.profile
    assert profile.n_images == len(stream) and built.rejected == 0
    assert built.projection.method == "pca"
    assert predictor.projection.space == built.projection.space == profile.embedding_space
    # A third of the images fitted the projection: they give no reference embedding.
    fitted = int(len(stream) * PROJECTION_SHARE)
    assert profile.embeddings.shape[0] == len(stream) - fitted
    # The reference embeddings are what the serving predictor now logs for the same image.
    again = predictor.predict(stream[fitted + 3][1])[0]
    assert np.allclose(again.embedding, profile.embeddings[3], atol=1e-3)
    # Features were measured on the served files: their sizes and qualities vary.
    assert np.unique(profile.cleaned("jpeg_quality")).size > 5
    # Round trip through JSON keeps the embeddings and the description.
    loaded = ReferenceProfile.from_json(json.loads(json.dumps(profile.to_dict())))
    assert loaded.embedding_space == profile.embedding_space
    assert np.allclose(loaded.embeddings, profile.embeddings, atol=1e-5)
    assert loaded.description == "test photos"


def test_build_reference_refuses_too_few_images_and_keeps_the_projection(tmp_path: Path):
    folder = build_resnet_model(tmp_path / "m", labels={0: "fake", 1: "real"}, seed=6)
    predictor = Predictor(load_model(str(folder)), settings("torch", tmp_path))
    before = predictor.projection.space
    stream = [(f"{i}.jpg", encode(photo_like(64, 64, seed=i))) for i in range(10)]
    stream.append(("bad.jpg", b"not an image"))
    with pytest.raises(DriftError, match="at least 100 scored images, got 10 .1 refused"):
        build_reference(predictor, stream, description="x")
    assert predictor.projection.space == before


def test_reference_profile_refuses_malformed_embeddings() -> None:
    base = {"features": {"brightness": [0.5]}, "n_images": 1}
    with pytest.raises(DriftError, match="'embeddings' must be lists"):
        ReferenceProfile.from_json({**base, "embeddings": [[1.0], [1.0, 2.0]]})
    with pytest.raises(DriftError, match="'embeddings' must be lists"):
        ReferenceProfile.from_json({**base, "embeddings": [[1.0]]})  # no space named
