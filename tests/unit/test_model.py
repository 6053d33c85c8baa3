from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fakescope.errors import ModelLoadError
from fakescope.model import (
    files_sha256,
    load_model,
    map_labels,
    parse_source,
    sha256_file,
    verify_files,
)

pytestmark = pytest.mark.unit


def test_parse_source_local_folder(tmp_path: Path) -> None:
    source = parse_source(str(tmp_path))
    assert source.kind == "local" and source.path == tmp_path


def test_parse_source_hub_pinned() -> None:
    source = parse_source("hf://dima806/deepfake_vs_real_image_detection@a1b2c3d")
    assert (source.kind, source.repo_id, source.revision) == (
        "hub",
        "dima806/deepfake_vs_real_image_detection",
        "a1b2c3d",
    )
    assert str(source) == "hf://dima806/deepfake_vs_real_image_detection@a1b2c3d"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hf://dima806/deepfake_vs_real_image_detection", "has no revision"),
        ("hf://dima806/deepfake_vs_real_image_detection@", "has no revision"),
        ("hf://just-a-name@main", "is not a repository id"),
        ("hf://a/b@../../etc", "is not a valid revision"),
    ],
)
def test_parse_source_rejects_unpinned_or_malformed_hub_sources(text: str, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        parse_source(text)


@pytest.mark.parametrize(
    "labels",
    [
        {0: "Real", 1: "Fake"},
        {0: "REAL", 1: "FAKE"},
        {0: "human", 1: "artificial"},
        {0: "authentic", 1: "ai"},
        {0: "real", 1: "generated"},
        {0: " Real ", 1: "synthetic"},
    ],
)
def test_map_labels_builtin_names(labels: dict[int, str]) -> None:
    assert map_labels(labels) == {0: "real", 1: "fake"}


def test_map_labels_explicit_map_wins() -> None:
    assert map_labels({0: "LABEL_0", 1: "LABEL_1"}, {"LABEL_0": "fake", "LABEL_1": "real"}) == {
        0: "fake",
        1: "real",
    }


def test_map_labels_unmappable_names_the_labels() -> None:
    with pytest.raises(ModelLoadError, match=r"\['LABEL_0', 'LABEL_1'\].*FAKESCOPE_LABEL_MAP"):
        map_labels({0: "LABEL_0", 1: "LABEL_1"})


def test_map_labels_needs_both_classes() -> None:
    with pytest.raises(ModelLoadError, match="at least one fake and one real"):
        map_labels({0: "fake", 1: "ai"})


def test_load_model_reads_metadata(vit_dir: Path) -> None:
    loaded = load_model(vit_dir)
    info = loaded.info
    assert info.architecture == "ViTForImageClassification"
    assert info.labels == {0: "Real", 1: "Fake"}
    assert info.label_roles == {0: "real", 1: "fake"}
    assert info.input_mode == "resize" and info.input_size == (224, 224)
    assert info.parameter_count == sum(p.numel() for p in loaded.module.parameters())
    assert len(info.weights_sha256) == 64 and info.version == f"sha-{info.weights_sha256[:12]}"
    assert loaded.spec.image_mean == (0.5, 0.5, 0.5) and loaded.spec.resample == 2


def test_load_model_crops_mode_from_config(resnet_dir: Path) -> None:
    info = load_model(resnet_dir).info
    assert info.input_mode == "crops" and info.input_size == (48, 48)
    assert info.label_roles == {0: "fake", 1: "real"}


def test_load_model_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=f"model folder {tmp_path / 'nope'} does not exist"):
        load_model(tmp_path / "nope")


def test_load_model_missing_file_names_it(vit_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    (copy / "preprocessor_config.json").unlink()
    with pytest.raises(ModelLoadError, match="missing preprocessor_config.json"):
        load_model(copy)


def test_load_model_refuses_pickled_weights(vit_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    (copy / "model.safetensors").rename(copy / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="only safetensors weights are loaded"):
        load_model(copy)


def test_load_model_corrupt_weights(vit_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    (copy / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelLoadError, match=f"cannot load weights from {copy}"):
        load_model(copy)


def test_load_model_weights_of_another_model(
    vit_dir: Path, resnet_dir: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    shutil.copy(resnet_dir / "model.safetensors", copy / "model.safetensors")
    with pytest.raises(ModelLoadError, match="do not match config.json"):
        load_model(copy)


def test_load_model_unsupported_architecture(vit_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    config = json.loads((copy / "config.json").read_text())
    config["model_type"] = "not-a-model"
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="unsupported or invalid config.json"):
        load_model(copy)


def test_load_model_text_architecture_is_not_an_image_classifier(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        id2label={0: "Real", 1: "Fake"},
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path / "bert")
    (tmp_path / "bert" / "preprocessor_config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="'bert' is not an image classifier"):
        load_model(tmp_path / "bert")


def test_load_model_unmappable_labels(make_vit) -> None:
    folder = make_vit(labels={0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ModelLoadError, match="cannot map model labels"):
        load_model(folder)
    assert load_model(
        folder, label_map={"LABEL_0": "real", "LABEL_1": "fake"}
    ).info.label_roles == {
        0: "real",
        1: "fake",
    }


def test_hub_source_offline_fails_cleanly() -> None:
    # HF_HUB_OFFLINE=1 (conftest): nothing leaves the machine, and the error names the source.
    with pytest.raises(ModelLoadError, match="cannot download hf://someone/model@main"):
        load_model("hf://someone/model@main")


def test_files_sha256_covers_the_three_model_files(vit_dir: Path) -> None:
    manifest = files_sha256(vit_dir)
    assert sorted(manifest) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    assert manifest["config.json"] == sha256_file(vit_dir / "config.json")
    with pytest.raises(ModelLoadError, match="cannot hash README.md"):
        files_sha256(vit_dir, ["README.md"])


@pytest.mark.parametrize(
    "changed", ["config.json", "preprocessor_config.json", "model.safetensors"]
)
def test_load_model_checks_expected_hashes(vit_dir: Path, tmp_path: Path, changed: str) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    manifest = files_sha256(copy)
    assert (
        load_model(copy, expected_sha256=manifest).info.weights_sha256
        == manifest["model.safetensors"]
    )
    with (copy / changed).open("ab") as handle:
        handle.write(b" ")  # one byte more: a JSON file still parses, the hash does not match
    with pytest.raises(ModelLoadError, match=f"model demo: {changed} changed since registration"):
        load_model(copy, name="demo", expected_sha256=manifest)


def test_verify_files_names_a_missing_file(vit_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    manifest = files_sha256(copy)
    (copy / "config.json").unlink()
    with pytest.raises(ModelLoadError, match=r"^v9: config.json is missing \(it was recorded"):
        verify_files(copy, manifest, label="v9")


# -- lazy loading (issue 14: a cached graph serves without the torch module) ---------------------


@pytest.mark.parametrize("which", ["vit", "resnet"])
def test_the_checkpoint_header_gives_the_facts_of_the_built_module(
    vit_dir: Path, resnet_dir: Path, which: str
) -> None:
    from fakescope.acceleration import convertible_linear_count
    from fakescope.embedding import head_input_dim
    from fakescope.model import head_width, linear_layer_count

    folder = vit_dir if which == "vit" else resnet_dir
    lazy, built = load_model(folder, lazy=True), load_model(folder)
    assert not lazy.module_loaded and built.module_loaded
    assert lazy.info == built.info  # parameter count and architecture without the module
    assert linear_layer_count(lazy) == convertible_linear_count(built.module)
    assert head_width(lazy) == head_input_dim(built.module)
    assert not lazy.module_loaded  # asking built nothing
    assert type(lazy.module).__name__ == built.info.architecture and lazy.module_loaded


def test_a_lazy_load_still_checks_the_weights_file_now(vit_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="the file is truncated"):
        load_model(copy, lazy=True)


def test_a_lazy_model_reports_weights_that_do_not_build_when_first_used(
    vit_dir: Path, resnet_dir: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(vit_dir, tmp_path / "m")
    shutil.copy(resnet_dir / "model.safetensors", copy / "model.safetensors")
    model = load_model(copy, lazy=True)  # the files are whole; the tensors fit another model
    with pytest.raises(ModelLoadError, match="do not match config.json"):
        _ = model.module
