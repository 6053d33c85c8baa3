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
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
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


class LoadedModel:
    """A model ready for inference: the torch module, its preprocessing, and its metadata.

    The module may be built on first use (``load_model(..., lazy=True)``): a runtime that finds
    the model's exported graph in its cache never needs it, and then neither torch's model code
    nor transformers is imported (about 2-6 s of a cold start, docs/performance.md).
    """

    def __init__(
        self,
        module: Any = None,
        spec: PreprocessSpec | None = None,
        info: ModelInfo | None = None,
        folder: Path | None = None,
        problem_type: str | None = None,
        *,
        loader: Callable[[], Any] | None = None,
        header: Mapping[str, Any] | None = None,
    ) -> None:
        if module is None and loader is None:
            raise ValueError("a LoadedModel needs its module or a loader for it")
        if spec is None or info is None or folder is None:
            raise ValueError("a LoadedModel needs its spec, info and folder")
        self._module = module
        self._loader = loader
        self._lock = threading.Lock()
        self.spec = spec
        self.info = info
        self.folder = Path(folder)
        self.problem_type = problem_type
        # The safetensors header (tensor names, shapes): facts about the layers without torch.
        self.header = dict(header or {})

    @property
    def module(self) -> Any:
        """The transformers module (a PreTrainedModel), built on first use when lazy.

        Raises:
            ModelLoadError: the weights cannot be loaded (a lazy model fails here, not at load).
        """
        if self._module is None:
            with self._lock:
                if self._module is None:
                    assert self._loader is not None  # nosec B101 - set when module is None
                    self._module = self._loader()
        return self._module

    @property
    def module_loaded(self) -> bool:
        """Whether the module has been built (nothing is loaded by asking)."""
        return self._module is not None

    def __repr__(self) -> str:
        state = "loaded" if self.module_loaded else "not loaded yet"
        return f"LoadedModel({self.info.name!r}, {self.info.version!r}, module {state})"


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
    lazy: bool = False,
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
        lazy: build the torch module on first use of ``LoadedModel.module`` instead of now. The
            files are still checked now (hashes, configs, the weights file's header and size);
            the serving path uses this, since a cached exported graph needs no module.

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

    header = read_safetensors_header(folder / "model.safetensors", str(parsed))
    architectures = config_dict.get("architectures") or []
    module = None
    if not lazy or not architectures:
        module = _load_module(folder, parsed)
    weights_sha = sha256_file(folder / "model.safetensors")
    info = ModelInfo(
        name=name or (parsed.repo_id if parsed.kind == "hub" else folder.resolve().name),
        version=version or (parsed.revision if parsed.kind == "hub" else f"sha-{weights_sha[:12]}"),
        source=str(parsed),
        revision=parsed.revision,
        weights_sha256=weights_sha,
        parameter_count=(
            sum(p.numel() for p in module.parameters())
            if module is not None
            else header_parameter_count(header)
        ),
        architecture=type(module).__name__ if module is not None else str(architectures[0]),
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
        loader=lambda: _load_module(folder, parsed),
        header=header,
    )


def head_width(model: LoadedModel) -> int:
    """Width of the pooled features the classification head reads, without building the module
    when the checkpoint's header tells (:func:`header_linear_weights`).

    Raises:
        EmbeddingError: the model has no linear head.
    """
    from fakescope.acceleration import HEAD_NAMES
    from fakescope.embedding import EmbeddingError, head_input_dim

    if model.header:
        width = header_linear_weights(model.header, len(model.info.labels), HEAD_NAMES)[1]
        if width is not None:
            return width
        if not model.module_loaded:
            raise EmbeddingError("the model has no linear classification head")
    return head_input_dim(model.module)


def linear_layer_count(model: LoadedModel) -> int:
    """Linear layers bf16 or int8 would convert (all but the head), from the header when the
    module is not built yet (the same count: ``tests/unit/test_model.py``)."""
    from fakescope.acceleration import HEAD_NAMES, convertible_linear_count

    if model.module_loaded or not model.header:
        return convertible_linear_count(model.module)
    return header_linear_weights(model.header, len(model.info.labels), HEAD_NAMES)[0]


# Tensors a checkpoint holds that are buffers, not parameters (BatchNorm statistics).
_BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # the format's own limit


def read_safetensors_header(path: Path, label: str = "model") -> dict[str, Any]:
    """Tensor name -> {"dtype", "shape", "data_offsets"} of a safetensors file, without torch.

    The file is checked against its header: a file shorter than the tensors it declares
    (a truncated download or copy) is refused here, before anything is built from it.

    Raises:
        ModelLoadError: the file is unreadable, not safetensors, or truncated.
    """
    weights = f"model {label}: cannot load weights from {path}:"
    try:
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) != 8:
                raise ModelLoadError(f"{weights} the file is empty or truncated")
            (length,) = struct.unpack("<Q", prefix)
            if length > _MAX_HEADER_BYTES:
                raise ModelLoadError(f"{weights} not a safetensors file (header too large)")
            raw = handle.read(length)
        size = path.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"{weights} {exc.strerror or exc}") from None
    try:
        header = json.loads(raw)
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
        shapes_ok = all(isinstance(v["shape"], list) for v in tensors.values())
    except (ValueError, KeyError, TypeError, IndexError):
        raise ModelLoadError(f"{weights} not a safetensors file (bad header)") from None
    if len(raw) != length or not shapes_ok or 8 + length + end > size:
        raise ModelLoadError(
            f"{weights} the file is truncated (its header declares {8 + length + end} bytes, "
            f"the file has {size})"
        )
    return tensors


def header_parameter_count(header: Mapping[str, Any]) -> int:
    """Parameters in a checkpoint (BatchNorm statistics left out, as ``module.parameters()``)."""
    total = 0
    for name, tensor in header.items():
        if not name.endswith(_BUFFER_SUFFIXES):
            count = 1
            for dim in tensor["shape"]:
                count *= int(dim)
            total += count
    return total


def header_linear_weights(
    header: Mapping[str, Any], num_labels: int, heads: Iterable[str]
) -> tuple[int, int | None]:
    """(Linear layers but the head, the head's input width) from a checkpoint's header.

    A Linear layer's weight is the only 2-D ``*.weight`` tensor of an image classifier; the head
    is the one with ``num_labels`` rows, or a top-level layer named in ``heads`` (the rule of
    :func:`fakescope.acceleration.convertible_linear_count`, which counts the built module).
    """
    head_names = tuple(heads)
    body, head_width = 0, None
    for name, tensor in sorted(header.items()):
        shape = tensor["shape"]
        if not name.endswith(".weight") or len(shape) != 2:
            continue
        layer = name[: -len(".weight")]
        if int(shape[0]) == num_labels or layer in head_names:
            head_width = int(shape[1])
        else:
            body += 1
    return body, head_width


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
