"""Model sources, loading, label mapping and metadata.

A model source is either

* a local folder in Hugging Face format (``config.json``, ``model.safetensors``,
  ``preprocessor_config.json``), or
* ``hf://owner/name@revision``: a Hugging Face Hub repository pinned to a revision (branch, tag or
  commit). The revision is required, so a deploy never changes model by surprise; the hub is only
  contacted for such a source.

Only safetensors weights are loaded, never pickles. Every model's ``id2label`` is mapped onto
the two verdict classes ``fake`` / ``real``; a model whose labels cannot be mapped does not load.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakescope.errors import ModelLoadError
from fakescope.preprocess import INPUT_MODES, PreprocessSpec

REQUIRED_FILES = ("config.json", "model.safetensors", "preprocessor_config.json")
HUB_PREFIX = "hf://"

# Built-in label names, compared case-insensitively after trimming.
FAKE_LABELS = frozenset(
    {
        "fake",
        "artificial",
        "ai",
        "ai-generated",
        "ai_generated",
        "generated",
        "synthetic",
        "deepfake",
        "fake_image",
        "gan",
        "diffusion",
    }
)
REAL_LABELS = frozenset(
    {"real", "human", "authentic", "natural", "genuine", "real_image", "photo", "realism"}
)

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from.

    Attributes:
        kind: ``local`` or ``hub``.
        path: the folder, for ``local``.
        repo_id, revision: for ``hub``.
    """

    kind: str
    path: Path | None = None
    repo_id: str | None = None
    revision: str | None = None

    def __str__(self) -> str:
        if self.kind == "hub":
            return f"{HUB_PREFIX}{self.repo_id}@{self.revision}"
        return str(self.path)


def parse_source(source: str | Path) -> ModelSource:
    """Parse a model source string.

    Args:
        source: a folder path, or ``hf://owner/name@revision``.

    Raises:
        ModelLoadError: an ``hf://`` source without a revision or with a malformed repo id.
    """
    text = str(source).strip()
    if not text.startswith(HUB_PREFIX):
        return ModelSource(kind="local", path=Path(text).expanduser())
    body = text[len(HUB_PREFIX) :]
    repo_id, at, revision = body.partition("@")
    if not at or not revision:
        raise ModelLoadError(
            f"hub model {text!r} has no revision: write hf://owner/name@revision "
            "(a branch, tag or commit hash), so the model cannot change without a deploy"
        )
    if not _REPO_ID.match(repo_id):
        raise ModelLoadError(
            f"hub model {text!r}: {repo_id!r} is not a repository id; "
            "expected hf://owner/name@revision"
        )
    if not _REVISION.match(revision) or ".." in revision:
        raise ModelLoadError(f"hub model {text!r}: {revision!r} is not a valid revision")
    return ModelSource(kind="hub", repo_id=repo_id, revision=revision)


def map_labels(
    id2label: Mapping[int, str], explicit: Mapping[str, str] | None = None
) -> dict[int, str]:
    """Map each model label id onto ``fake`` or ``real``.

    Args:
        id2label: the model's ``config.id2label``.
        explicit: optional label name -> ``fake``/``real`` map; it wins over built-in names.

    Returns:
        label id -> ``fake`` or ``real``.

    Raises:
        ModelLoadError: a label maps to neither class, or one class has no label at all.
    """
    explicit_lower = {k.strip().lower(): v for k, v in (explicit or {}).items()}
    roles: dict[int, str] = {}
    unmapped: list[str] = []
    for label_id, name in sorted(id2label.items()):
        key = str(name).strip().lower()
        if key in explicit_lower:
            roles[int(label_id)] = explicit_lower[key]
        elif key in FAKE_LABELS:
            roles[int(label_id)] = "fake"
        elif key in REAL_LABELS:
            roles[int(label_id)] = "real"
        else:
            unmapped.append(str(name))
    labels = ", ".join(repr(str(n)) for _, n in sorted(id2label.items()))
    if unmapped:
        raise ModelLoadError(
            f"cannot map model labels [{labels}] onto fake/real: {', '.join(map(repr, unmapped))} "
            "is not a known name (fake: Fake, artificial, ai, generated, synthetic; real: Real, "
            "human, authentic). Set FAKESCOPE_LABEL_MAP, e.g. 'LABEL_0=real,LABEL_1=fake'"
        )
    if set(roles.values()) != {"fake", "real"}:
        raise ModelLoadError(
            f"model labels [{labels}] must include at least one fake and one real label; "
            "set FAKESCOPE_LABEL_MAP to say which is which"
        )
    return roles


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a loaded model (shown on the Models page and in every prediction).

    Attributes:
        name: human name (registry name, folder name or hub repo id).
        version: registry version (``v1``), hub revision, or ``sha-<12 hex>`` for a bare folder.
        source: the source string it was loaded from.
        revision: hub revision, or None for local folders.
        weights_sha256: SHA-256 of ``model.safetensors``.
        parameter_count: number of parameters.
        architecture: the transformers class name.
        labels: label id -> label name.
        label_roles: label id -> ``fake`` / ``real``.
        input_mode: ``resize`` or ``crops``.
        input_size: (height, width) of one model input.
        temperature: logits are divided by this before softmax (calibration).
        limits: plain-language limits from the model card, shown next to verdicts.
        precision: the inference precision in use (set by the Predictor).
    """

    name: str
    version: str
    source: str
    revision: str | None
    weights_sha256: str
    parameter_count: int
    architecture: str
    labels: dict[int, str]
    label_roles: dict[int, str]
    input_mode: str
    input_size: tuple[int, int]
    temperature: float = 1.0
    limits: str = ""
    precision: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class LoadedModel:
    """A model ready for inference: the torch module, its preprocessing, and its metadata."""

    module: Any  # transformers PreTrainedModel; typed loosely so this module imports without torch
    spec: PreprocessSpec
    info: ModelInfo
    folder: Path
    problem_type: str | None = None


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def files_sha256(folder: Path, names: Iterable[str] = REQUIRED_FILES) -> dict[str, str]:
    """SHA-256 of each named file of a model folder (the registry's integrity manifest).

    Raises:
        ModelLoadError: a named file is missing or cannot be read.
    """
    manifest = {}
    for name in names:
        try:
            manifest[name] = sha256_file(folder / name)
        except OSError as exc:
            raise ModelLoadError(f"cannot hash {name}: {exc.strerror or exc}") from None
    return manifest


def verify_files(folder: Path, expected: Mapping[str, str], *, label: str) -> None:
    """Check a model folder's files against a manifest of SHA-256 digests.

    Args:
        folder: the folder holding the files.
        expected: file name -> SHA-256 hex digest recorded when the model was registered.
        label: what the folder is, for messages (``registry version v2``): no server paths.

    Raises:
        ModelLoadError: a file is missing, unreadable or differs; the message names the file.
    """
    for name, digest in sorted(expected.items()):
        path = folder / name
        if not path.is_file():
            raise ModelLoadError(
                f"{label}: {name} is missing (it was recorded at registration); restore it or "
                "register the model again"
            )
        try:
            actual = sha256_file(path)
        except OSError as exc:
            raise ModelLoadError(f"{label}: {name} cannot be read: {exc.strerror or exc}") from None
        if actual != digest:
            raise ModelLoadError(
                f"{label}: {name} changed since registration (sha256 {actual[:12]}..., registered "
                f"{digest[:12]}...); restore the file, or register the changed model as a new "
                "version"
            )


def download_hub_model(source: ModelSource, cache_dir: Path | None = None) -> Path:
    """Fetch a pinned hub revision's model files (safetensors only); return the folder.

    Raises:
        ModelLoadError: the hub cannot be reached, the repo or revision does not exist, or the repo
            has no ``model.safetensors``.
    """
    from huggingface_hub import snapshot_download  # imported late: only hub sources need it

    try:
        folder = snapshot_download(
            repo_id=source.repo_id,
            revision=source.revision,
            allow_patterns=[*REQUIRED_FILES, "README.md"],
            cache_dir=str(cache_dir) if cache_dir else None,
        )
    except Exception as exc:  # network, auth, unknown repo/revision: all end the same way
        raise ModelLoadError(
            f"cannot download {source} from the Hugging Face Hub: {type(exc).__name__}: {exc}"
        ) from None
    return Path(folder)


def read_spec(config: Mapping[str, Any], preprocessor: Mapping[str, Any]) -> PreprocessSpec:
    """Build the preprocessing spec from ``config.json`` and ``preprocessor_config.json``."""
    extra = config.get("fakescope") or {}
    input_mode = extra.get("input_mode", "resize")
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
    size = preprocessor.get("size") or {}
    if isinstance(size, int):
        height = width = size
    elif "shortest_edge" in size:
        height = width = int(size["shortest_edge"])
    else:
        height = int(size.get("height", config.get("image_size", 224)))
        width = int(size.get("width", config.get("image_size", 224)))

    def triple(value: Any, default: float) -> tuple[float, float, float]:
        if value is None:
            return (default,) * 3
        if isinstance(value, (int, float)):
            return (float(value),) * 3
        return tuple(float(v) for v in value)  # type: ignore[return-value]

    return PreprocessSpec(
        input_mode=input_mode,
        height=height,
        width=width,
        crop_size=int(extra.get("crop_size", 64)),
        num_crops=int(extra.get("num_crops", 9)),
        resample=int(preprocessor.get("resample", 2)),
        rescale_factor=float(preprocessor.get("rescale_factor", 1 / 255)),
        image_mean=triple(preprocessor.get("image_mean"), 0.5),
        image_std=triple(preprocessor.get("image_std"), 0.5),
        do_resize=bool(preprocessor.get("do_resize", input_mode == "resize")),
        do_rescale=bool(preprocessor.get("do_rescale", True)),
        do_normalize=bool(preprocessor.get("do_normalize", True)),
    )


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {what} {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{what} {path} must hold a JSON object")
    return data


def check_model_folder(folder: Path) -> None:
    """Raise ModelLoadError unless ``folder`` holds the three Hugging Face model files."""
    if not folder.exists():
        raise ModelLoadError(f"model folder {folder} does not exist")
    if not folder.is_dir():
        raise ModelLoadError(
            f"model source {folder} is not a folder (expected a Hugging Face folder)"
        )
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        pickles = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt*")]
        hint = (
            f"; found {', '.join(pickles)}, but only safetensors weights are loaded (convert them "
            "with safetensors' convert script)"
            if "model.safetensors" in missing and pickles
            else ""
        )
        raise ModelLoadError(
            f"model folder {folder} is missing {', '.join(missing)} "
            f"(a model folder needs {', '.join(REQUIRED_FILES)}){hint}"
        )


def load_model(
    source: str | Path,
    *,
    label_map: Mapping[str, str] | None = None,
    name: str | None = None,
    version: str | None = None,
    limits: str = "",
    cache_dir: Path | None = None,
    expected_sha256: Mapping[str, str] | None = None,
) -> LoadedModel:
    """Load a model from a folder or a pinned hub revision.

    Args:
        source: folder path or ``hf://owner/name@revision``.
        label_map: explicit label -> ``fake``/``real`` map (wins over built-in names; a map stored
            in the folder's ``config.json`` under ``fakescope.label_map`` is used otherwise).
        name, version: override the name and version shown (the registry passes its own).
        limits: plain-language limits; defaults to the model's ``fakescope.limits`` if any.
        cache_dir: hub download cache (default: huggingface_hub's).
        expected_sha256: file name -> SHA-256 the files must have (the registry's manifest);
            checked before anything is read, so a changed config or preprocessor cannot load.

    Raises:
        ModelLoadError: missing folder or file, corrupt weights, unsupported architecture,
            unmappable labels, a file that differs from ``expected_sha256``, or a hub source that
            cannot be fetched.
    """
    parsed = parse_source(source)
    if parsed.kind == "hub":
        folder = download_hub_model(parsed, cache_dir)
    else:
        folder = parsed.path or Path(".")
    check_model_folder(folder)
    if expected_sha256:
        verify_files(folder, expected_sha256, label=f"model {name or parsed}")
    config_dict = _read_json(folder / "config.json", "model config")
    preprocessor_dict = _read_json(folder / "preprocessor_config.json", "preprocessor config")
    extra = config_dict.get("fakescope") or {}

    id2label = {int(k): str(v) for k, v in (config_dict.get("id2label") or {}).items()}
    if not id2label:
        # transformers omits its default names from config.json; they are LABEL_0, LABEL_1, ...
        id2label = {i: f"LABEL_{i}" for i in range(int(config_dict.get("num_labels", 2)))}
    label_roles = map_labels(id2label, label_map or extra.get("label_map"))
    try:
        spec = read_spec(config_dict, preprocessor_dict)
    except (ValueError, TypeError) as exc:
        raise ModelLoadError(f"model {parsed}: bad preprocessing settings: {exc}") from None

    module = _load_module(folder, parsed)
    weights_sha = sha256_file(folder / "model.safetensors")
    info = ModelInfo(
        name=name or (parsed.repo_id if parsed.kind == "hub" else folder.resolve().name),
        version=version or (parsed.revision if parsed.kind == "hub" else f"sha-{weights_sha[:12]}"),
        source=str(parsed),
        revision=parsed.revision,
        weights_sha256=weights_sha,
        parameter_count=sum(p.numel() for p in module.parameters()),
        architecture=type(module).__name__,
        labels=id2label,
        label_roles=label_roles,
        input_mode=spec.input_mode,
        input_size=spec.input_size,
        temperature=float(extra.get("temperature", 1.0)),
        limits=limits or str(extra.get("limits", "")),
    )
    return LoadedModel(
        module=module,
        spec=spec,
        info=info,
        folder=folder,
        problem_type=config_dict.get("problem_type"),
    )


def _load_module(folder: Path, parsed: ModelSource) -> Any:
    """Instantiate the transformers model; every failure becomes ModelLoadError."""
    import transformers
    from transformers import AutoConfig, AutoModelForImageClassification

    # Progress bars and load reports go to stderr of a CLI or a server log; keep them quiet.
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        # A local folder (hub sources were fetched at a pinned revision above), so no revision.
        config = AutoConfig.from_pretrained(folder)  # nosec B615
    except (ValueError, KeyError, OSError) as exc:
        raise ModelLoadError(f"model {parsed}: unsupported or invalid config.json: {exc}") from None
    supported = AutoModelForImageClassification._model_mapping
    if type(config) not in supported:
        raise ModelLoadError(
            f"model {parsed}: architecture {config.model_type!r} is not an image classifier "
            "transformers can load (AutoModelForImageClassification)"
        )
    try:
        module, loading = AutoModelForImageClassification.from_pretrained(  # nosec B615
            folder, use_safetensors=True, output_loading_info=True
        )
    except Exception as exc:  # safetensors, torch and transformers raise many types here
        raise ModelLoadError(
            f"model {parsed}: cannot load weights from {folder / 'model.safetensors'}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    missing = sorted(loading.get("missing_keys") or [])
    mismatched = sorted(loading.get("mismatched_keys") or [])
    if missing or mismatched:
        # transformers would silently fill these with random values: never serve that.
        shown = ", ".join(str(k) for k in (missing + mismatched)[:5])
        raise ModelLoadError(
            f"model {parsed}: weights in {folder / 'model.safetensors'} do not match config.json "
            f"({len(missing)} missing, {len(mismatched)} mismatched tensors, e.g. {shown})"
        )
    module.eval()
    return module
