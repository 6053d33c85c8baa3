#!/usr/bin/env python3
"""Build the Hugging Face Space bundle of FakeScope, validate it, and push it to the Space.

Usage::

    python prepare_deployment.py --out build/space
    python prepare_deployment.py --out build/space \\
        --hub-model hf://dima806/deepfake_vs_real_image_detection@<40-hex commit>
    python prepare_deployment.py --out build/space --push /path/to/bare.git
    python prepare_deployment.py --out build/space --space OWNER/NAME   # token from $HF_TOKEN
    python prepare_deployment.py --out build/space \\
        --push "https://user:$HF_TOKEN@huggingface.co/spaces/OWNER/NAME"

The bundle is a clean folder: ``README.md`` with the Space front matter, ``Dockerfile`` (from
``Dockerfile.streamlit``), ``.dockerignore``, ``.gitattributes`` (LFS patterns), the package
(``src/fakescope``), the app (``streamlit_app``), ``pyproject.toml``, ``requirements.txt`` and the
model registry (``models/``). Nothing is pushed unless every check passes: required files, front
matter (parsed with huggingface_hub's metadata loader), file sizes against LFS tracking, secrets,
and a pinned model. Tokens are never printed.

Exit codes: 0 built (and pushed, or already up to date), 1 validation or push failed, 2 usage.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil

# git runs with argument lists, never through a shell.
import subprocess  # nosec B404
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent

# Hugging Face rejects plain-git files above 10 MB; bigger files must go through LFS.
MAX_PLAIN_FILE_BYTES = 10 * 1000 * 1000
SPACE_COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
MAX_SHORT_DESCRIPTION = 60  # the Hub's limit for short_description
APP_PORT = 7860
BUNDLE_MODEL_DIR = "/app/models"  # where Dockerfile.streamlit puts models/ in the image

# (source in the repository, destination in the bundle, required)
BUNDLE_SOURCES: tuple[tuple[str, str, bool], ...] = (
    ("Dockerfile.streamlit", "Dockerfile", True),
    (".dockerignore", ".dockerignore", True),
    ("requirements.txt", "requirements.txt", True),
    ("pyproject.toml", "pyproject.toml", True),
    ("src/fakescope", "src/fakescope", True),
    ("streamlit_app", "streamlit_app", True),
    (".streamlit", ".streamlit", True),
    ("models", "models", True),
    ("LICENSE", "LICENSE", False),
)
REQUIRED_BUNDLE_FILES = (
    "README.md",
    "Dockerfile",
    ".gitattributes",
    "requirements.txt",
    "pyproject.toml",
    "src/fakescope/__init__.py",
    "streamlit_app/app.py",
    ".streamlit/config.toml",
)
# Never copied: caches and editor litter. Secrets are NOT skipped silently: they fail validation,
# so a leak in the source tree is seen and fixed, not hidden by one tool and shipped by another.
SKIPPED_NAMES = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints", ".DS_Store", ".lock"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
# Tracked with LFS in the bundle: weights and images (the Hub refuses binary files in plain git).
LFS_PATTERNS = (
    "*.safetensors",
    "*.bin",
    "*.onnx",
    "*.png",
    "*.jpg",
    "*.jpeg",
    "*.webp",
    "*.gif",
    "*.bmp",
    "*.tif",
    "*.tiff",
)
# Model files FakeScope never loads (pickles can run code); they have no place in a deploy.
FORBIDDEN_MODEL_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")

SECRET_FILE_PATTERNS = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    "secrets.toml",  # Streamlit's secrets file
)
SECRET_CONTENT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}\b")),
    ("private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+=]{40}", re.IGNORECASE),
    ),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    # user:password@ in a URL; placeholders ($VAR, <token>, {token}, ***) are not secrets.
    ("credentials in a URL", re.compile(r"https?://[^\s/:@'\"]+:(?![$<{*])[^\s/@'\"]{8,}@")),
)
_HUB_MODEL = re.compile(r"^hf://([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)@([0-9a-f]{40})$")
_DOCKERFILE_ARG = r"^ARG {name}=.*$"
_URL_CREDENTIALS = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+@", re.IGNORECASE)


class DeploymentError(Exception):
    """The bundle cannot be built, does not validate, or cannot be pushed.

    Attributes:
        problems: every problem found (validation reports them all at once).
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class SpaceMetadata:
    """The Space front matter written at the top of the bundle's README.md."""

    title: str = "FakeScope"
    emoji: str = "🔍"
    color_from: str = "indigo"
    color_to: str = "pink"
    sdk: str = "docker"
    app_port: int = APP_PORT
    pinned: bool = False
    license: str = "apache-2.0"
    short_description: str = "Real photo or AI-generated? A monitored detector"

    def front_matter(self) -> str:
        """The YAML block, strings quoted as JSON (a subset of YAML) so no value can break it."""
        fields = {
            "title": self.title,
            "emoji": self.emoji,
            "colorFrom": self.color_from,
            "colorTo": self.color_to,
            "sdk": self.sdk,
            "app_port": self.app_port,
            "pinned": self.pinned,
            "license": self.license,
            "short_description": self.short_description,
        }
        lines = [f"{key}: {json.dumps(value, ensure_ascii=False)}" for key, value in fields.items()]
        return "---\n" + "\n".join(lines) + "\n---\n"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the bundle."""

    path: str
    size: int
    lfs: bool


@dataclass
class Manifest:
    """What the bundle holds, with sizes; ``live_model`` says which model the Space serves."""

    entries: list[ManifestEntry] = field(default_factory=list)
    live_model: str = ""
    fallback_model: str | None = None

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(entry.size for entry in self.entries)

    def paths(self) -> list[str]:
        """Bundle-relative paths, sorted."""
        return [entry.path for entry in self.entries]

    def format(self) -> str:
        """A table of the files (size, LFS flag) and the live model, for printing."""
        width = max((len(entry.path) for entry in self.entries), default=4)
        lines = [f"{'file':<{width}}  {'size':>10}  lfs"]
        for entry in self.entries:
            lfs = "yes" if entry.lfs else ""
            lines.append(f"{entry.path:<{width}}  {_human(entry.size):>10}  {lfs}")
        lines.append(f"{len(self.entries)} files, {_human(self.total_bytes)}")
        lines.append(f"live model: {self.live_model}")
        if self.fallback_model:
            lines.append(f"fallback model: {self.fallback_model}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PushResult:
    """What a push did: ``commit`` is the new commit, None when the Space was already up to date."""

    remote: str
    branch: str
    commit: str | None

    @property
    def changed(self) -> bool:
        """True when a new commit was pushed."""
        return self.commit is not None


# -- building -----------------------------------------------------------------------------------


def build_bundle(
    out_dir: Path,
    source_dir: Path = REPO_ROOT,
    hub_model: str | None = None,
    metadata: SpaceMetadata | None = None,
    force: bool = False,
) -> Manifest:
    """Build the Space bundle in ``out_dir`` and validate it.

    Args:
        out_dir: the bundle folder; must not exist or be empty (or ``force`` to replace it).
        source_dir: the repository to take the files from.
        hub_model: ``hf://owner/name@<40-hex commit>`` to serve instead of the registry's active
            model; the active demo model then becomes the offline fallback.
        metadata: the Space front matter (defaults when None).
        force: replace a non-empty ``out_dir``.

    Returns:
        The validated manifest.

    Raises:
        DeploymentError: a source file is missing, ``out_dir`` is unusable, or validation fails.
    """
    source_dir = source_dir.resolve()
    out_dir = out_dir.resolve()
    metadata = metadata or SpaceMetadata()
    _prepare_out_dir(out_dir, source_dir, force)

    missing = [src for src, _, required in BUNDLE_SOURCES if required]
    missing = [src for src in missing if not (source_dir / src).exists()]
    if missing:
        raise DeploymentError(
            f"missing in {source_dir}: {', '.join(missing)} (the bundle needs "
            + ", ".join(src for src, _, required in BUNDLE_SOURCES if required)
            + ")"
        )
    for src, dest, _ in BUNDLE_SOURCES:
        if (source_dir / src).exists():
            _copy(source_dir / src, out_dir / dest)

    fallback = None
    if hub_model is not None:
        match = _HUB_MODEL.match(hub_model.strip())
        if not match:
            raise DeploymentError(_hub_model_help(hub_model))
        hub_model = hub_model.strip()
        active = _active_local_version(out_dir / "models")
        if active is None:
            raise DeploymentError(
                "--hub-model needs a local demo model as the offline fallback: models/ has no "
                "active version with weights (register one with `fakescope models register`)"
            )
        # `registry` = the registry's active version (FakeScope's loader), here the demo model.
        fallback = "registry"
        _set_dockerfile_arg(out_dir / "Dockerfile", "FAKESCOPE_MODEL", hub_model)
        _set_dockerfile_arg(out_dir / "Dockerfile", "FAKESCOPE_FALLBACK_MODEL", fallback)

    (out_dir / ".gitattributes").write_text(_gitattributes(), encoding="utf-8")
    readme = metadata.front_matter() + "\n" + _readme_body(out_dir, metadata, hub_model, fallback)
    (out_dir / "README.md").write_text(readme, encoding="utf-8")
    return validate_bundle(out_dir)


def _prepare_out_dir(out_dir: Path, source_dir: Path, force: bool) -> None:
    if out_dir == source_dir or source_dir.is_relative_to(out_dir):
        raise DeploymentError(
            f"--out {out_dir} would overwrite the repository; choose a new folder"
        )
    for src, _, _ in BUNDLE_SOURCES:
        if out_dir.is_relative_to(source_dir / src):
            raise DeploymentError(f"--out {out_dir} is inside {src}, which goes into the bundle")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise DeploymentError(f"--out {out_dir} is a file; give a folder")
        if any(out_dir.iterdir()):
            if not force:
                raise DeploymentError(
                    f"--out {out_dir} is not empty; pass --force to replace it, or choose a "
                    "new folder"
                )
            shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)


def _skipped(name: str) -> bool:
    return name in SKIPPED_NAMES or name.endswith(SKIPPED_SUFFIXES)


def _copy(src: Path, dest: Path) -> None:
    if src.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        return
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if any(_skipped(part) for part in rel.parts):
            continue
        if path.is_symlink():
            # A link could point anywhere (a home folder, a secret); ship only real files.
            raise DeploymentError(f"{path} is a symbolic link; the bundle takes regular files only")
        if path.is_dir():
            continue
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest / rel)


def _set_dockerfile_arg(dockerfile: Path, name: str, value: str) -> None:
    """Set the default of ``ARG name=`` (Spaces builds with no build arguments)."""
    text = dockerfile.read_text(encoding="utf-8")
    pattern = re.compile(_DOCKERFILE_ARG.format(name=re.escape(name)), re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise DeploymentError(
            f"Dockerfile.streamlit must declare `ARG {name}=` exactly once (the bundle sets it)"
        )
    dockerfile.write_text(
        pattern.sub(lambda _: f"ARG {name}={json.dumps(value)}", text), encoding="utf-8"
    )


def _dockerfile_arg(dockerfile: Path, name: str) -> str | None:
    """The default of ``ARG name=...`` in a Dockerfile ('' when empty, None when absent)."""
    pattern = re.compile(_DOCKERFILE_ARG.format(name=re.escape(name)), re.MULTILINE)
    match = pattern.search(dockerfile.read_text(encoding="utf-8"))
    if not match:
        return None
    value = match.group(0).split("=", 1)[1].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _active_local_version(models_dir: Path) -> str | None:
    """The registry's active version when it holds weights (not a hub pointer), else None."""
    try:
        pointer = json.loads((models_dir / "registry.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    active = pointer.get("active") if isinstance(pointer, dict) else None
    if not isinstance(active, str) or not active or "/" in active or active.startswith("."):
        return None
    folder = models_dir / active
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return active
    return None


def _version_label(models_dir: Path, version: str) -> str:
    try:
        data = json.loads((models_dir / version / "version.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return version
    name = data.get("name") if isinstance(data, dict) else None
    return f"{name} ({version})" if name else version


def _gitattributes() -> str:
    lines = ["# Weights and images go through LFS: the Hub refuses binary files in plain git."]
    lines += [f"{pattern} filter=lfs diff=lfs merge=lfs -text" for pattern in LFS_PATTERNS]
    return "\n".join(lines) + "\n"


def _readme_body(
    bundle: Path, metadata: SpaceMetadata, hub_model: str | None, fallback: str | None
) -> str:
    models_dir = bundle / "models"
    active = _active_local_version(models_dir)
    if hub_model:
        demo = _version_label(models_dir, active) if active else "the demo model"
        live = (
            f"**Live model:** `{hub_model}` from the Hugging Face Hub, pinned to that commit.\n"
            f"If it cannot be loaded (for example the Hub is unreachable), the Space falls back "
            f"to the registry's active version, the committed demo model {demo} "
            f"(FAKESCOPE_FALLBACK_MODEL={fallback})."
        )
    elif active:
        live = (
            f"**Live model:** the committed demo model {_version_label(models_dir, active)}, "
            "the active version of the model registry in `models/`. It is a small model trained "
            "on real photographs and simulated generator up-sampling traces: a demonstration of "
            f"the pipeline, not a forensic tool (its card: `models/{active}/README.md`)."
        )
    else:
        live = "**Live model:** the active version of the model registry in `models/`."
    return (
        f"# {metadata.title}\n\n"
        "Tells real photographs from AI-generated images: upload images, get Real / Fake / "
        "Uncertain with a confidence, and watch latency and input drift on the monitoring "
        "pages.\n\n"
        f"{live}\n\n"
        "This Space is deployed by FakeScope's CI from the main branch, after linting, security "
        "scans, tests, benchmarks and a container smoke test have passed. Do not edit it here: "
        "changes are overwritten by the next deployment.\n"
    )


# -- validating ---------------------------------------------------------------------------------


def validate_bundle(bundle: Path) -> Manifest:
    """Check a bundle folder before anything leaves the machine.

    Checks: required files; the README front matter (parsed with huggingface_hub's
    ``metadata_load``); no file over 10 MB unless LFS tracks it; no secrets (token patterns, key
    files, ``.env``); no pickled weights; a model (the registry's active version, or a hub model
    pinned to a commit).

    Returns:
        The manifest (files, sizes, LFS flags, live model).

    Raises:
        DeploymentError: with every problem found, each saying what is accepted.
    """
    bundle = bundle.resolve()
    if not bundle.is_dir():
        raise DeploymentError(f"bundle folder {bundle} does not exist")
    problems: list[str] = []
    files = sorted(
        p for p in bundle.rglob("*") if (p.is_file() or p.is_symlink()) and ".git" not in p.parts
    )
    rel_paths = [p.relative_to(bundle).as_posix() for p in files]

    for required in REQUIRED_BUNDLE_FILES:
        if not (bundle / required).is_file():
            problems.append(f"missing required file {required}")

    metadata = _check_front_matter(bundle / "README.md", problems)
    if metadata is not None and (bundle / "Dockerfile").is_file():
        port = metadata.get("app_port")
        if f"EXPOSE {port}" not in (bundle / "Dockerfile").read_text(encoding="utf-8"):
            problems.append(f"Dockerfile does not EXPOSE {port}, the app_port of the front matter")

    lfs_patterns = _lfs_patterns(bundle / ".gitattributes")
    entries = []
    for path, rel in zip(files, rel_paths):
        if path.is_symlink():
            problems.append(f"{rel} is a symbolic link; the bundle takes regular files only")
            continue
        size = path.stat().st_size
        lfs = _matches_any(rel, lfs_patterns)
        entries.append(ManifestEntry(rel, size, lfs))
        if size > MAX_PLAIN_FILE_BYTES and not lfs:
            problems.append(
                f"{rel} is {_human(size)}, over the 10 MB limit for plain git files: track it "
                "with LFS (a filter=lfs pattern in .gitattributes) or leave it out"
            )
        if rel.startswith("models/") and rel.lower().endswith(FORBIDDEN_MODEL_SUFFIXES):
            problems.append(
                f"{rel} is a pickle-format model file; FakeScope loads only model.safetensors"
            )
        problems.extend(_secrets_in(path, rel))

    manifest = Manifest(entries=entries)
    _check_model(bundle, manifest, problems)
    if problems:
        raise DeploymentError(problems)
    return manifest


def _check_front_matter(readme: Path, problems: list[str]) -> dict[str, object] | None:
    if not readme.is_file():
        return None
    # The Hub's own loader, so what passes here is what the Hub will read.
    from huggingface_hub.repocard import metadata_load

    try:
        data = metadata_load(readme)
    except Exception as exc:  # yaml.YAMLError and ValueError: any parse failure is one problem
        problems.append(f"README.md front matter is not valid YAML: {_one_line(exc)}")
        return None
    if not data:
        problems.append("README.md has no front matter (a --- YAML block --- at the top)")
        return None
    expected: dict[str, type] = {
        "title": str,
        "emoji": str,
        "colorFrom": str,
        "colorTo": str,
        "sdk": str,
        "app_port": int,
        "pinned": bool,
        "license": str,
        "short_description": str,
    }
    for key, kind in expected.items():
        value = data.get(key)
        if value is None:
            problems.append(f"README.md front matter lacks {key}")
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            problems.append(
                f"README.md front matter {key} must be a {kind.__name__}, got {value!r}"
            )
        elif kind is str and not value.strip():
            problems.append(f"README.md front matter {key} is empty")
    for key in ("colorFrom", "colorTo"):
        if isinstance(data.get(key), str) and data[key] not in SPACE_COLORS:
            problems.append(
                f"README.md front matter {key} must be one of {', '.join(SPACE_COLORS)}, "
                f"got {data[key]!r}"
            )
    if isinstance(data.get("sdk"), str) and data["sdk"] != "docker":
        problems.append(f"README.md front matter sdk must be 'docker', got {data['sdk']!r}")
    port = data.get("app_port")
    if isinstance(port, int) and not isinstance(port, bool) and port != APP_PORT:
        problems.append(f"README.md front matter app_port must be {APP_PORT}, got {port}")
    description = data.get("short_description")
    if isinstance(description, str) and len(description) > MAX_SHORT_DESCRIPTION:
        problems.append(
            f"README.md front matter short_description is {len(description)} characters; "
            f"the Hub allows {MAX_SHORT_DESCRIPTION}"
        )
    return data


def _lfs_patterns(gitattributes: Path) -> list[str]:
    if not gitattributes.is_file():
        return []
    patterns = []
    for line in gitattributes.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def _matches_any(rel: str, patterns: Iterable[str]) -> bool:
    """gitattributes matching: a pattern without '/' matches the file name at any depth."""
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern.strip("/"):
            if fnmatch.fnmatchcase(rel, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern.strip("/")):
            return True
    return False


def _secrets_in(path: Path, rel: str) -> list[str]:
    found = []
    name = path.name
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_FILE_PATTERNS):
        found.append(f"{rel}: a secrets file ({name}) must never be deployed; remove it")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        # Binary files (weights, images) hold no text secrets, but the deploy token itself must
        # not appear anywhere.
        token = os.environ.get("HF_TOKEN", "").encode()
        if len(token) >= 8 and token in data:
            found.append(f"{rel}: contains the value of $HF_TOKEN; remove it")
        return found
    text = data.decode("utf-8", errors="replace")
    for label, pattern in SECRET_CONTENT_PATTERNS:
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(
                f"{rel}:{line}: looks like a {label}; remove it (secrets go in Space settings)"
            )
            break
    token = os.environ.get("HF_TOKEN", "")
    if len(token) >= 8 and token in text and not any("Hugging Face token" in f for f in found):
        found.append(f"{rel}: contains the value of $HF_TOKEN; remove it")
    return found


def _check_model(bundle: Path, manifest: Manifest, problems: list[str]) -> None:
    dockerfile = bundle / "Dockerfile"
    hub_model = _dockerfile_arg(dockerfile, "FAKESCOPE_MODEL") if dockerfile.is_file() else None
    fallback = (
        _dockerfile_arg(dockerfile, "FAKESCOPE_FALLBACK_MODEL") if dockerfile.is_file() else None
    )
    active = _active_local_version(bundle / "models")
    if hub_model:
        if not _HUB_MODEL.match(hub_model):
            problems.append("Dockerfile FAKESCOPE_MODEL: " + _hub_model_help(hub_model))
        manifest.live_model = hub_model
        manifest.fallback_model = fallback or None
        if fallback == "registry":
            if active is None:
                problems.append(
                    "Dockerfile FAKESCOPE_FALLBACK_MODEL is 'registry' but models/ has no active "
                    "version with weights to fall back to"
                )
        elif fallback:
            prefix = BUNDLE_MODEL_DIR + "/"
            local = bundle / "models" / fallback[len(prefix) :]
            if not fallback.startswith(prefix) or not (local / "model.safetensors").is_file():
                problems.append(
                    f"Dockerfile FAKESCOPE_FALLBACK_MODEL {fallback!r} is neither 'registry' nor "
                    "a model folder of the bundle (/app/models/<version> with model.safetensors)"
                )
        return
    if active is None:
        problems.append(
            "no model to serve: models/registry.json must name an active version holding "
            "config.json and model.safetensors, or pass --hub-model hf://owner/name@<commit>"
        )
        return
    manifest.live_model = f"models/{active} ({_version_label(bundle / 'models', active)})"


def _hub_model_help(value: str) -> str:
    return (
        f"hub model {value!r} is not pinned: give hf://owner/name@<commit>, with the full "
        "40-character commit hash (the Hub's 'Files and versions' > 'History' page shows it); "
        "branches and tags can move, so they are not accepted for a deployment"
    )


# -- pushing ------------------------------------------------------------------------------------


def redact(text: str) -> str:
    """Hide credentials: ``https://user:TOKEN@host`` -> ``https://user:***@host``, and $HF_TOKEN."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    token = os.environ.get("HF_TOKEN", "")
    if len(token) >= 8:
        text = text.replace(token, "***")
    return text


def _local_path(remote: str) -> Path | None:
    """The folder of a local remote (a path or file:// URL); None for network remotes."""
    if remote.startswith("file://"):
        return Path(remote[len("file://") :])
    if "://" in remote or re.match(r"^[\w.-]+@[\w.-]+:", remote):
        return None
    return Path(remote).expanduser()


def _git(args: Sequence[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # fail on bad credentials instead of waiting for input
        "GIT_ASKPASS": "",
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "FakeScope deploy"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "deploy@fakescope.invalid"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "FakeScope deploy"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "deploy@fakescope.invalid"),
    }
    # No credential helper: a token in the remote URL must not be stored anywhere.
    command = ["git", "-c", "credential.helper=", *args]
    try:
        # A fixed git argument list, no shell.
        result = subprocess.run(  # nosec B603
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired:
        raise DeploymentError(f"git {redact(args[0])} timed out after 15 minutes") from None
    except FileNotFoundError:
        raise DeploymentError("git is not installed; it is needed to push the bundle") from None
    if check and result.returncode != 0:
        message = redact((result.stderr or result.stdout).strip())
        raise DeploymentError(f"git {args[0]} failed: {message}")
    return result


def push_bundle(
    bundle: Path, remote: str, branch: str = "main", message: str | None = None
) -> PushResult:
    """Make ``branch`` of the Space repository ``remote`` hold exactly the bundle, in one commit.

    The remote's history is kept (its tip is fetched, the tree replaced, one commit added); when the
    tree is unchanged nothing is committed or pushed. Binary files go through git-lfs for remote
    Spaces; a local path remote (tests, dry runs) gets them as plain git objects.

    Args:
        bundle: a folder built by :func:`build_bundle` (it is validated again first).
        remote: a local path to a git repository, or the Space URL with credentials.
        branch: the branch the Space builds from.
        message: the commit message (default: the source commit, when known).

    Returns:
        The push result (``commit`` None when already up to date).

    Raises:
        DeploymentError: validation fails, git or git-lfs is missing, or git fails (token hidden).
    """
    manifest = validate_bundle(bundle)
    shown = redact(remote)
    local_path = _local_path(remote)
    local = local_path is not None
    if local_path is not None:
        remote = str(local_path.resolve())
    uses_lfs = any(entry.lfs for entry in manifest.entries)
    with tempfile.TemporaryDirectory(prefix="fakescope-space-") as tmp:
        work = Path(tmp)
        _git(["init", "-q", "-b", branch], work)
        if local:
            # No LFS server behind a path: store every file as a plain object, whatever LFS
            # configuration this machine has globally (info/attributes wins over .gitattributes).
            (work / ".git" / "info").mkdir(parents=True, exist_ok=True)
            (work / ".git" / "info" / "attributes").write_text("* -filter\n", encoding="utf-8")
        elif uses_lfs:
            if _git(["lfs", "version"], work, check=False).returncode != 0:
                raise DeploymentError(
                    "git-lfs is needed to push weights and images to the Space: install it "
                    "(apt-get install git-lfs) and run again"
                )
            _git(["lfs", "install", "--local"], work)
        heads = _git(["ls-remote", "--heads", remote, branch], work).stdout.strip()
        if heads:
            # The remote tip becomes HEAD and the index, without a checkout: nothing is
            # downloaded through LFS, and `add -A` below sees exactly what changed or went away.
            _git(["fetch", "-q", "--depth", "1", remote, branch], work)
            _git(["update-ref", f"refs/heads/{branch}", "FETCH_HEAD"], work)
            _git(["read-tree", "HEAD"], work)
        for entry in bundle.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir():
                shutil.copytree(entry, work / entry.name)
            else:
                shutil.copy2(entry, work / entry.name)
        _git(["add", "-A"], work)
        if not _git(["status", "--porcelain"], work).stdout.strip():
            return PushResult(remote=shown, branch=branch, commit=None)
        _git(["commit", "-q", "-m", message or _default_message()], work)
        _git(["push", "-q", remote, f"HEAD:refs/heads/{branch}"], work)
        commit = _git(["rev-parse", "HEAD"], work).stdout.strip()
    return PushResult(remote=shown, branch=branch, commit=commit)


def _default_message() -> str:
    try:
        # A fixed git argument list, no shell; git is looked up on PATH like every git tool.
        result = subprocess.run(  # nosec B603 B607
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "Deploy FakeScope"
    sha = result.stdout.strip()
    return f"Deploy FakeScope {sha}" if result.returncode == 0 and sha else "Deploy FakeScope"


# -- command line -------------------------------------------------------------------------------


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover - the loop always returns


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="prepare_deployment.py",
        description="Build, validate and push FakeScope's Hugging Face Space bundle.",
    )
    parser.add_argument("--out", required=True, type=Path, help="bundle folder to create")
    parser.add_argument("--force", action="store_true", help="replace --out if it is not empty")
    parser.add_argument(
        "--source", type=Path, default=REPO_ROOT, help="repository to bundle (default: this one)"
    )
    parser.add_argument(
        "--hub-model",
        help="serve hf://owner/name@<40-hex commit> instead of the demo model (which stays as "
        "the offline fallback)",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--push", metavar="REMOTE", help="git remote of the Space (URL or path)")
    target.add_argument(
        "--space",
        metavar="OWNER/NAME",
        help="push to https://huggingface.co/spaces/OWNER/NAME with the token in $HF_TOKEN",
    )
    parser.add_argument("--branch", default="main", help="branch the Space builds (main)")
    parser.add_argument("--message", help="commit message (default: the source commit)")
    defaults = SpaceMetadata()
    parser.add_argument("--title", default=defaults.title)
    parser.add_argument("--emoji", default=defaults.emoji)
    parser.add_argument("--color-from", default=defaults.color_from, help="Space card color")
    parser.add_argument("--color-to", default=defaults.color_to, help="Space card color")
    parser.add_argument("--short-description", default=defaults.short_description)
    parser.add_argument("--license", default=defaults.license)
    parser.add_argument("--pinned", action="store_true", help="pin the Space on the profile")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: build and validate the bundle, print the manifest, push when asked."""
    args = build_parser().parse_args(argv)
    remote = args.push
    if args.space:
        token = os.environ.get("HF_TOKEN", "").strip()
        if not re.match(r"^[\w.-]+/[\w.-]+$", args.space):
            print(f"error: --space must be OWNER/NAME, got {args.space!r}", file=sys.stderr)
            return 2
        if not token:
            print("error: --space needs the Space write token in $HF_TOKEN", file=sys.stderr)
            return 2
        remote = f"https://user:{token}@huggingface.co/spaces/{args.space}"
    metadata = SpaceMetadata(
        title=args.title,
        emoji=args.emoji,
        color_from=args.color_from,
        color_to=args.color_to,
        pinned=args.pinned,
        license=args.license,
        short_description=args.short_description,
    )
    try:
        manifest = build_bundle(
            args.out, args.source, hub_model=args.hub_model, metadata=metadata, force=args.force
        )
    except DeploymentError as exc:
        print("error: the Space bundle is not valid; nothing was pushed:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {redact(problem)}", file=sys.stderr)
        return 1
    print(f"bundle: {args.out}")
    print(manifest.format())
    if remote is None:
        return 0
    try:
        result = push_bundle(args.out, remote, branch=args.branch, message=args.message)
    except DeploymentError as exc:
        print(f"error: push to {redact(remote)} failed:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {redact(problem)}", file=sys.stderr)
        return 1
    if result.changed:
        print(f"pushed {result.commit} to {result.remote} ({result.branch})")
    else:
        print(f"{result.remote} ({result.branch}) is already up to date; nothing pushed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
