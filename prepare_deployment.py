#!/usr/bin/env python3
"""Build the Hugging Face Space bundle of FakeScope, validate it, and push it to the Space.

Usage::

    python prepare_deployment.py --out build/space
    python prepare_deployment.py --out build/space \\
        --hub-model hf://dima806/deepfake_vs_real_image_detection@<40-hex commit>
    python prepare_deployment.py --out build/space --push /path/to/bare.git
    python prepare_deployment.py --out build/space --space OWNER/NAME   # token from $HF_TOKEN
    python prepare_deployment.py --out build/space \\
        --push https://huggingface.co/spaces/OWNER/NAME                 # token from $HF_TOKEN

The bundle is a clean folder: ``README.md`` with the Space front matter, ``Dockerfile`` (from
``Dockerfile.streamlit``), ``.dockerignore``, ``.gitattributes`` (LFS patterns), the package
(``src/fakescope``), the app (``streamlit_app``), ``pyproject.toml``, ``requirements.txt`` and the
model registry (``models/``). Nothing is pushed unless every check passes: required files, front
matter (parsed with huggingface_hub's metadata loader), file sizes against LFS tracking, secrets,
and a pinned model. Tokens are never printed, and never passed to git in its arguments (which
every user of the machine can read in /proc/PID/cmdline): git gets them from its environment
through a GIT_ASKPASS helper. A ``user:token@`` in ``--push`` still works but is warned about,
since it sits in this script's own arguments.

Exit codes: 0 built (and pushed, or already up to date), 1 validation or push failed, 2 usage.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import fnmatch
import json
import os
import re
import shutil

# git runs with argument lists, never through a shell.
import subprocess  # nosec B404
import sys
import tempfile
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
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
    "streamlit_app/server.py",  # the image's CMD: pages and API on one port
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
    "*.ppk",  # PuTTY private keys
    "*.jks",
    "*.keystore",
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    ".netrc",
    ".git-credentials",
    ".pypirc",
    ".htpasswd",
    "secrets.toml",  # Streamlit's secrets file
)


@dataclass(frozen=True)
class SecretRule:
    """One kind of secret: ``pattern``'s group ``secret`` is what messages replace with ``***``.

    Patterns never rely on word boundaries (``\b``): a token glued to a letter before it or to
    ``_x`` after it is still a token. They match ASCII only, so the same rule runs over decoded
    text, raw bytes of binary files and UTF-16/32 views.
    """

    kind: str
    pattern: re.Pattern[str]


# Placeholders are not secrets: $VAR, ${VAR}, <token>, {token}, ***, %s.
_NOT_PLACEHOLDER = r"(?![$<{*%])"
# High-confidence rules, after gitleaks' (github.com/gitleaks/gitleaks, config/gitleaks.toml):
# each has a fixed prefix or structure, so they hold on binary files without false positives.
SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule("Hugging Face token", re.compile(r"hf_(?P<secret>[A-Za-z0-9]{30,})")),
    SecretRule(
        "Hugging Face organization token", re.compile(r"api_org_(?P<secret>[A-Za-z0-9]{30,})")
    ),
    SecretRule("GitHub token", re.compile(r"gh[pousr]_(?P<secret>[A-Za-z0-9]{36,})")),
    SecretRule("GitHub token", re.compile(r"github_pat_(?P<secret>[A-Za-z0-9_]{40,})")),
    SecretRule("GitLab token", re.compile(r"glpat-(?P<secret>[A-Za-z0-9_-]{20,})")),
    SecretRule(
        "AWS access key id",
        re.compile(r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)(?P<secret>[A-Z0-9]{16})"),
    ),
    SecretRule(
        "AWS secret access key",
        re.compile(
            r"(?i:aws_?secret_?access_?key)[\"']?\s*[=:]\s*[\"']?(?P<secret>[A-Za-z0-9/+=]{40})"
        ),
    ),
    SecretRule("Slack token", re.compile(r"xox[abeoprs]-(?P<secret>[0-9]+-[A-Za-z0-9-]{10,})")),
    SecretRule(
        "Slack webhook",
        re.compile(r"hooks\.slack\.com/(?:services|workflows)/(?P<secret>[A-Za-z0-9+/]{20,})"),
    ),
    SecretRule(
        "OpenAI API key",
        re.compile(r"sk-(?P<secret>[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,})"),
    ),
    SecretRule(
        "OpenAI API key", re.compile(r"sk-(?:proj|svcacct|admin)-(?P<secret>[A-Za-z0-9_-]{40,})")
    ),
    SecretRule(
        "Anthropic API key", re.compile(r"sk-ant-[a-z]+[0-9]{2}-(?P<secret>[A-Za-z0-9_-]{80,})")
    ),
    SecretRule("Google API key", re.compile(r"AIza(?P<secret>[A-Za-z0-9_-]{35})")),
    SecretRule("Stripe key", re.compile(r"[rs]k_live_(?P<secret>[A-Za-z0-9]{20,})")),
    SecretRule("npm token", re.compile(r"npm_(?P<secret>[A-Za-z0-9]{36})")),
    SecretRule("PyPI token", re.compile(r"pypi-AgEIcHlwaS5vcmc(?P<secret>[A-Za-z0-9_-]{50,})")),
    # Every PEM kind (RSA, EC, DSA, ENCRYPTED, plain PKCS#8), OpenSSH and PGP blocks, SSH2/PuTTY.
    SecretRule("private key", re.compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----")),
    SecretRule("private key", re.compile(r"---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----")),
    SecretRule("PuTTY private key", re.compile(r"PuTTY-User-Key-File-[0-9]+:")),
    SecretRule(
        "credentials in a URL",
        re.compile(
            r"[a-z][a-z0-9+.-]*://[^\s/:@'\"]+:"
            + _NOT_PLACEHOLDER
            + r"(?P<secret>[^\s/@'\"]{8,})@",
            re.IGNORECASE,
        ),
    ),
    # A quoted literal assigned to a secret-looking name; needs a letter and a digit so names of
    # environment variables ("FAKESCOPE_ADMIN_TOKEN") and prose do not trip it.
    SecretRule(
        "hard-coded secret",
        re.compile(
            r"(?i:password|passwd|secret|api_?key|access_?token|auth_?token)[\"']?\s*[:=]\s*"
            r"[\"']" + _NOT_PLACEHOLDER + r"(?P<secret>(?=[^\"'\s]*[0-9])(?=[^\"'\s]*[A-Za-z])"
            r"[^\"'\s]{8,})[\"']"
        ),
    ),
)
# Decompressed data (PNG text chunks, zip members, gzip) is scanned up to this size; anything
# bigger fails the gate rather than being shipped unscanned.
MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024
MAX_NESTING = 3  # a zip in a zip in a gzip is scanned; deeper nesting fails the gate
# Raw views are scanned in windows so memory stays bounded on big weights; the overlap is longer
# than any secret the rules match, and a multiple of 4 so UTF-16/32 views keep their alignment.
SCAN_WINDOW = 8 * 1024 * 1024
SCAN_OVERLAP = 64 * 1024
MAX_FINDINGS_PER_FILE = 10
_HF_HOSTS = ("huggingface.co", "hf.co")  # where $HF_TOKEN is sent for --push
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
    ``metadata_load``); no file over 10 MB unless LFS tracks it; no secrets (key files, ``.env``,
    and :func:`scan_bytes` over every file, binary ones included); no pickled weights; a model
    (the registry's active version, or a hub model pinned to a commit).

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


# -- secret scanning ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretFinding:
    """A secret found in a bundle file; ``shown`` is its redacted form, safe to print.

    Attributes:
        path: the bundle-relative file.
        kind: what the secret looks like ("Hugging Face token", "private key", ...).
        where: where in the file: ``:LINE`` for text, `` (PNG zTXt chunk 'Comment')``, ...
        shown: the match with its secret part replaced by ``***``, and its length.
    """

    path: str
    kind: str
    where: str
    shown: str

    def message(self) -> str:
        """The problem line validation reports (never the secret itself)."""
        if self.kind.startswith("credentials"):
            kind = self.kind
        else:
            kind = ("an " if self.kind[0].lower() in "aeiou" else "a ") + self.kind
        return (
            f"{self.path}{self.where}: looks like {kind} ({self.shown}); remove it (secrets go "
            "in Space settings)"
        )


class _Unscannable(Exception):
    """Content that cannot be scanned (too big once decompressed, nested too deep)."""


@dataclass
class _Scan:
    """Findings of one file, one per distinct secret, in the order the views found them."""

    rel: str
    token: str  # the value of $HF_TOKEN ('' when unset or too short to be meaningful)
    findings: list[SecretFinding] = field(default_factory=list)
    seen: set[tuple[str, str]] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)  # hidden from every message, labels included
    decompressed: int = 0  # bytes of decoded chunks, members and archives so far
    token_found: bool = False

    def text(self, text: str, locate: _Locator) -> None:
        """Run every rule over one decoded view of the file."""
        for rule in SECRET_RULES:
            for match in rule.pattern.finditer(text):
                key = (rule.kind, match.group(0))
                if key in self.seen:
                    continue
                self.seen.add(key)
                if "secret" in rule.pattern.groupindex and match.group("secret"):
                    self.secrets.add(match.group("secret"))
                self.findings.append(
                    SecretFinding(self.rel, rule.kind, locate(text, match.start()), _shown(match))
                )
        if self.token and not self.token_found and self.token in text:
            self.token_found = True


class _Locator:
    """Turns an offset in a view into a location: a line, a byte offset, or a fixed label.

    ``runs`` maps a view made of printable runs back to the bytes: the offset in the view and
    in the data where each run starts; a byte offset is then ``base + data_offset * step``.
    """

    def __init__(
        self,
        label: str = "",
        lines: bool = False,
        step: int = 1,
        base: int = 0,
        runs: tuple[list[int], list[int]] | None = None,
    ) -> None:
        self.label, self.lines, self.step, self.base, self.runs = label, lines, step, base, runs

    def __call__(self, text: str, offset: int) -> str:
        if self.lines:
            return f":{text.count(chr(10), 0, offset) + 1}"
        if self.runs is None:
            return f" ({self.label})" if self.label else ""
        view_starts, data_starts = self.runs
        index = bisect.bisect_right(view_starts, offset) - 1
        byte = self.base + (data_starts[index] + offset - view_starts[index]) * self.step
        return f" ({self.label}, byte {byte})" if self.label else f" (byte {byte})"


def _shown(match: re.Match[str]) -> str:
    """The match with its secret group replaced by ``***``, cut to 60 characters, with length."""
    text = match.group(0)
    if "secret" in match.re.groupindex and match.group("secret") is not None:
        start, end = match.span("secret")
        text = text[: start - match.start()] + "***" + text[end - match.start() :]
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text}, {len(match.group(0))} characters"


def scan_bytes(data: bytes, rel: str) -> list[str]:
    """Every secret in one file's content, as problem lines (redacted, naming file and kind).

    The content is read in every form a secret can hide in: as text (UTF-8, NUL bytes
    included) and as raw bytes (the printable ASCII runs of any binary, like ``strings``); as
    UTF-16 and UTF-32, either byte order, with or without BOM, whole or embedded in a binary;
    PNG text chunks (tEXt, zTXt, iTXt) and compressed profiles (iCCP), decompressed; a
    safetensors header and any JSON document, with escapes decoded; zip members and gzip
    content, decompressed. The value of ``$HF_TOKEN`` is looked for in all of them too.

    Args:
        data: the file's bytes.
        rel: the bundle-relative path, for messages.

    Returns:
        One line per distinct secret (at most ``MAX_FINDINGS_PER_FILE``, then a count).
    """
    token = os.environ.get("HF_TOKEN", "").strip()
    scan = _Scan(rel, token if len(token) >= 8 else "")
    problems: list[str] = []
    try:
        _scan_content(scan, data, "", 0)
    except _Unscannable as exc:
        problems.append(f"{rel}: {exc}; it cannot be checked for secrets, so it is not deployed")
    problems += [finding.message() for finding in scan.findings[:MAX_FINDINGS_PER_FILE]]
    if len(scan.findings) > MAX_FINDINGS_PER_FILE:
        problems.append(
            f"{rel}: {len(scan.findings) - MAX_FINDINGS_PER_FILE} more secrets like the above"
        )
    if scan.token_found and not any(f.kind == "Hugging Face token" for f in scan.findings):
        problems.append(f"{rel}: contains the value of $HF_TOKEN; remove it")
    # A PNG keyword or a zip member name (in the location) could itself be a secret.
    hidden = sorted(scan.secrets | ({scan.token} if scan.token else set()), key=len, reverse=True)
    for secret in hidden:
        problems = [problem.replace(secret, "***") for problem in problems]
    return problems


def _scan_content(scan: _Scan, data: bytes, label: str, depth: int) -> None:
    """Scan ``data`` as text first when it is UTF-8 (messages then give line numbers), in its
    structured forms (they name the place: chunk, member, header), and raw.

    Raises:
        _Unscannable: nested too deep, or more decompressed content than the scan allows.
    """
    if depth > MAX_NESTING:
        raise _Unscannable(f"{label or 'content'} is nested over {MAX_NESTING} archives deep")
    if depth:
        # One budget for the whole file: many small archives must not add up to a bomb.
        scan.decompressed += len(data)
        if scan.decompressed > MAX_DECOMPRESSED_BYTES:
            raise _Unscannable(
                f"{label} takes the decompressed content over {_human(MAX_DECOMPRESSED_BYTES)}, "
                "the scan limit"
            )
    prefix = f"{label} > " if label else ""
    text_first = _is_utf8(data)
    if text_first:
        _scan_raw(scan, data, label, lines=not label)  # text: report line numbers
    if data.startswith(_PNG_SIGNATURE):
        for chunk_label, content in _png_texts(data):
            _scan_content(scan, content, prefix + chunk_label, depth + 1)
    header = _safetensors_header(data)
    if header is not None:
        scan.text("\n".join(_json_strings(header)), _Locator(prefix + "safetensors metadata"))
    elif len(data) <= MAX_PLAIN_FILE_BYTES and data.lstrip()[:1] in (b"{", b"["):
        # JSON escapes (\u0068f_...) hide a token from a byte scan; decoded strings do not.
        try:
            document = json.loads(data)
        except (ValueError, RecursionError):
            document = None
        if document is not None:
            scan.text("\n".join(_json_strings(document)), _Locator(prefix + "JSON strings"))
    if data.startswith(b"PK\x03\x04"):
        for name, content in _zip_members(data):
            _scan_content(scan, content, f"{prefix}zip member {name!r}", depth + 1)
    if data.startswith(b"\x1f\x8b"):
        content = _inflate(data, 31, f"{prefix}gzip content")
        if content is not None:
            _scan_content(scan, content, prefix + "gzip content", depth + 1)
    if not text_first:
        _scan_raw(scan, data, label, lines=False)


def _scan_raw(scan: _Scan, data: bytes, label: str, lines: bool) -> None:
    """The bytes as text, their printable runs, and UTF-16/UTF-32 views.

    Text (``lines``) is scanned whole, so messages give line numbers; NUL bytes change nothing.
    Anything else is scanned like ``strings``: the runs of 8+ printable ASCII bytes, which hold
    every secret the rules match, in whatever binary format they sit. An ASCII character in
    UTF-16 is one byte beside a NUL, so every 2nd byte (from an even and from an odd offset,
    which covers both byte orders and any alignment) spells the text out; the same with every
    4th byte for UTF-32 (only with its BOM: it is rare, and each phase costs a pass).
    """
    if scan.token and not scan.token_found and scan.token.encode() in data:
        scan.token_found = True
    views: list[tuple[int, int, str]] = [(1, 0, "")]  # step, phase, name
    if b"\x00" in data:  # ASCII in UTF-16/32 always comes with NUL bytes
        views += [(2, 0, "UTF-16 text"), (2, 1, "UTF-16 text")]
        if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
            views += [(4, phase, "UTF-32 text") for phase in range(4)]
    for start in range(0, max(len(data), 1), SCAN_WINDOW):
        window = data[start : start + SCAN_WINDOW + SCAN_OVERLAP]
        for step, phase, name in views:
            where = " > ".join(part for part in (label, name) if part)
            if step == 1 and lines and start == 0:
                scan.text(window.decode("latin-1"), _Locator(where, lines=True))
                continue
            text, runs = _printable_runs(window[phase::step])
            scan.text(text, _Locator(where, step=step, base=start + phase, runs=runs))
        if start + SCAN_WINDOW >= len(data):
            break


# Printable ASCII and whitespace, 8 or more in a row (`strings -n 8`).
_PRINTABLE_RUN = re.compile(rb"[\t\n\x0b\x0c\r -~]{8,}")


def _printable_runs(data: bytes) -> tuple[str, tuple[list[int], list[int]]]:
    """The printable runs of ``data`` joined by newlines, and where each starts (text, data)."""
    parts: list[bytes] = []
    view_starts: list[int] = []
    data_starts: list[int] = []
    position = 0
    for match in _PRINTABLE_RUN.finditer(data):
        parts.append(match.group(0))
        view_starts.append(position)
        data_starts.append(match.start())
        position += len(match.group(0)) + 1
    return b"\n".join(parts).decode("ascii"), (view_starts, data_starts)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_texts(data: bytes) -> list[tuple[str, bytes]]:
    """The decoded content of a PNG's text chunks (tEXt, zTXt, iTXt) and ICC profile (iCCP).

    Uncompressed chunks are also seen by the raw scan; decoding them names the chunk and
    keyword in the message. Compressed ones are only visible here.
    """
    found = []
    offset = len(_PNG_SIGNATURE)
    while offset + 12 <= len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        body = data[offset + 8 : offset + 8 + length]
        offset += 12 + length
        if kind == "IEND":
            break
        if kind not in ("tEXt", "zTXt", "iTXt", "iCCP"):
            continue
        keyword, _, rest = body.partition(b"\x00")
        label = f"PNG {kind} chunk {keyword.decode('latin-1')!r}"
        if kind == "tEXt":
            found.append((label, rest))
        elif kind in ("zTXt", "iCCP"):
            content = _inflate(rest[1:], 15, label)  # rest[0] is the compression method
            found.append((label, rest if content is None else content))
        elif len(rest) >= 2:
            compressed = rest[0] == 1
            # iTXt: flag, method, language tag NUL, translated keyword NUL, text.
            text = rest[2:].split(b"\x00", 2)[-1]
            content = _inflate(text, 15, label) if compressed else text
            found.append((label, text if content is None else content))
    return found


def _inflate(data: bytes, wbits: int, label: str) -> bytes | None:
    """zlib/gzip-decompress up to ``MAX_DECOMPRESSED_BYTES``; None when the data is not valid.

    Raises:
        _Unscannable: the content decompresses to more than the limit (a bomb, or not a text).
    """
    import zlib

    inflater = zlib.decompressobj(wbits)
    try:
        content = inflater.decompress(data, MAX_DECOMPRESSED_BYTES)
    except zlib.error:
        return None
    if inflater.unconsumed_tail:
        raise _Unscannable(
            f"{label} decompresses to over {_human(MAX_DECOMPRESSED_BYTES)}, the scan limit"
        )
    return content


def _zip_members(data: bytes) -> list[tuple[str, bytes]]:
    """The members of a zip archive, each read up to the decompression limit."""
    import io
    import zipfile

    members = []
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                total += info.file_size
                if total > MAX_DECOMPRESSED_BYTES:
                    raise _Unscannable(
                        f"zip archive holds over {_human(MAX_DECOMPRESSED_BYTES)}, the scan limit"
                    )
                with archive.open(info) as member:
                    # Read one byte more than declared: a lying header cannot smuggle a bomb.
                    content = member.read(info.file_size + 1)
                members.append((info.filename, content[: info.file_size]))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return members  # not a readable archive: the raw scan still covers its bytes
    return members


def _safetensors_header(data: bytes) -> object | None:
    """The JSON header of a safetensors file (tensor table and ``__metadata__``), else None."""
    if len(data) < 10:
        return None
    size = int.from_bytes(data[:8], "little")
    if not 2 <= size <= len(data) - 8 or data[8:9] != b"{":
        return None
    try:
        return json.loads(data[8 : 8 + size])
    except (ValueError, RecursionError):
        return None


def _json_strings(document: object) -> list[str]:
    """Every string (keys included) of a decoded JSON document, iteratively (no recursion)."""
    strings: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                strings.append(str(key))
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return strings


def _secrets_in(path: Path, rel: str) -> list[str]:
    """Problems for one bundle file: a secret-holding file name, or secrets in its content."""
    found = []
    name = path.name
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in SECRET_FILE_PATTERNS):
        found.append(f"{rel}: a secrets file ({name}) must never be deployed; remove it")
    return found + scan_bytes(path.read_bytes(), rel)


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


@dataclass(frozen=True)
class GitCredentials:
    """A user name and password (token) for an HTTPS remote; never shown in a repr."""

    username: str = field(repr=False)
    password: str = field(repr=False)


# The only names under which credentials reach git: its environment, which (unlike argv in
# /proc/PID/cmdline) only the same user can read.
ASKPASS_USERNAME_ENV = "FAKESCOPE_GIT_USERNAME"
# B105: a variable name, not a password.
ASKPASS_PASSWORD_ENV = "FAKESCOPE_GIT_PASSWORD"  # nosec B105
# git (and git-lfs) run GIT_ASKPASS with the prompt as its argument: "Username for 'https://...':"
# or "Password for 'https://user@...':". The script holds no secret, only the variable names.
_ASKPASS_SCRIPT = f"""#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "${ASKPASS_USERNAME_ENV}" ;;
  *) printf '%s\\n' "${ASKPASS_PASSWORD_ENV}" ;;
esac
"""


def redact(text: str, *secrets: str) -> str:
    """Hide credentials: ``https://user:TOKEN@host`` -> ``https://user:***@host``, $HF_TOKEN, and
    each of ``secrets`` (8 characters or more: shorter ones would hide ordinary words)."""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    for secret in (os.environ.get("HF_TOKEN", "").strip(), *secrets):
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def split_credentials(remote: str) -> tuple[str, GitCredentials | None]:
    """Take ``user:password@`` out of a remote URL, so it never reaches git's arguments.

    Args:
        remote: a URL (``https://user:TOKEN@host/path``) or a path.

    Returns:
        The URL without user info, and the credentials (None when the URL had none). A user
        without a password (``https://TOKEN@host``) is returned as the user name.
    """
    parts = urllib.parse.urlsplit(remote)
    if not parts.scheme or "@" not in parts.netloc:
        return remote, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    username, colon, password = userinfo.partition(":")
    if parts.scheme.lower() not in ("http", "https", "file") and not colon:
        return remote, None  # ssh://git@host/...: a user name, authenticated by key
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    credentials = GitCredentials(urllib.parse.unquote(username), urllib.parse.unquote(password))
    return clean, credentials


def _local_path(remote: str) -> Path | None:
    """The folder of a local remote (a path or file:// URL); None for network remotes."""
    if remote.startswith("file://"):
        path = remote[len("file://") :]
        return Path(path[len("localhost") :] if path.startswith("localhost/") else path)
    if "://" in remote or re.match(r"^[\w.-]+@[\w.-]+:", remote):
        return None
    return Path(remote).expanduser()


def git_command(
    args: Sequence[str],
    credentials: GitCredentials | None = None,
    askpass: Path | None = None,
) -> tuple[list[str], dict[str, str]]:
    """The argument list and environment of one git run; credentials go only into the environment.

    Args:
        args: git's arguments (a remote among them must carry no credentials).
        credentials: for an HTTPS remote; handed over by ``askpass`` from the environment.
        askpass: the helper script (see :func:`askpass_helper`); needed with ``credentials``.

    Returns:
        ``(argv, env)`` for ``subprocess.run``.

    Raises:
        DeploymentError: an argument holds credentials (a URL with ``user:password@``, or the
            password itself), or credentials come without a helper.
    """
    leaks = [arg for arg in args if _URL_CREDENTIALS.search(arg)]
    if credentials is not None and credentials.password:
        leaks += [arg for arg in args if credentials.password in arg]
    if leaks:
        raise DeploymentError(
            "refusing to run git with credentials in its arguments (any user of the machine can "
            "read them in /proc/PID/cmdline): pass them with GitCredentials / $HF_TOKEN"
        )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in (ASKPASS_USERNAME_ENV, ASKPASS_PASSWORD_ENV)
    }
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",  # fail on bad credentials instead of waiting for input
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "FakeScope deploy"),
            "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "deploy@fakescope.invalid"),
            "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "FakeScope deploy"),
            "GIT_COMMITTER_EMAIL": os.environ.get(
                "GIT_COMMITTER_EMAIL", "deploy@fakescope.invalid"
            ),
        }
    )
    if credentials is not None:
        if askpass is None:
            raise DeploymentError("git credentials need an askpass helper (askpass_helper())")
        env["GIT_ASKPASS"] = str(askpass)
        env[ASKPASS_USERNAME_ENV] = credentials.username
        env[ASKPASS_PASSWORD_ENV] = credentials.password
    # No credential helper: a token must not be stored anywhere (nor read from a stale store).
    # `-c` is exported to git's children (git-lfs, `git credential`) too.
    return ["git", "-c", "credential.helper=", *args], env


@contextlib.contextmanager
def askpass_helper() -> Iterator[Path]:
    """A GIT_ASKPASS script in a private temporary folder (0700), deleted afterwards.

    The script reads the user name and password from the environment, so the secret is neither
    in a file nor in any process's arguments.
    """
    folder = Path(tempfile.mkdtemp(prefix="fakescope-askpass-"))  # mode 0700
    try:
        script = folder / "askpass.sh"
        fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(_ASKPASS_SCRIPT)
        yield script
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_git(
    args: Sequence[str],
    cwd: Path,
    check: bool = True,
    credentials: GitCredentials | None = None,
    askpass: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd``; credentials reach it only through its environment (see git_command).

    Args:
        args: git's arguments, without credentials.
        cwd: the working folder.
        check: raise when git fails.
        credentials: for an HTTPS remote.
        askpass: a helper from :func:`askpass_helper` (one is made for this call when None).

    Returns:
        git's completed process (text output).

    Raises:
        DeploymentError: git is missing, times out, or fails with ``check`` (secrets redacted).
    """
    if credentials is not None and askpass is None:
        with askpass_helper() as helper:
            return run_git(args, cwd, check, credentials, helper)
    command, env = git_command(args, credentials, askpass)
    secret = credentials.password if credentials is not None else ""
    try:
        # A fixed git argument list, no shell, no credentials (git_command refuses them).
        result = subprocess.run(  # nosec B603
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
        )
    except subprocess.TimeoutExpired:
        raise DeploymentError(f"git {redact(args[0], secret)} timed out after 15 minutes") from None
    except FileNotFoundError:
        raise DeploymentError("git is not installed; it is needed to push the bundle") from None
    if check and result.returncode != 0:
        message = redact((result.stderr or result.stdout).strip(), secret)
        raise DeploymentError(f"git {args[0]} failed: {message}")
    return result


def push_bundle(
    bundle: Path,
    remote: str,
    branch: str = "main",
    message: str | None = None,
    credentials: GitCredentials | None = None,
) -> PushResult:
    """Make ``branch`` of the Space repository ``remote`` hold exactly the bundle, in one commit.

    The remote's history is kept (its tip is fetched, the tree replaced, one commit added); when the
    tree is unchanged nothing is committed or pushed. Binary files go through git-lfs for remote
    Spaces; a local path remote (tests, dry runs) gets them as plain git objects. Credentials
    (``credentials``, or ``user:password@`` in ``remote``) reach git through its environment and a
    GIT_ASKPASS helper, never through its arguments.

    Args:
        bundle: a folder built by :func:`build_bundle` (it is validated again first).
        remote: a local path to a git repository, or the Space URL (credentials in it are taken
            out before git runs).
        branch: the branch the Space builds from.
        message: the commit message (default: the source commit, when known).
        credentials: user name and token for an HTTPS remote (win over those in ``remote``).

    Returns:
        The push result (``commit`` None when already up to date).

    Raises:
        DeploymentError: validation fails, git or git-lfs is missing, or git fails (token hidden).
    """
    manifest = validate_bundle(bundle)
    remote, in_url = split_credentials(remote)
    credentials = credentials or in_url
    shown = redact(remote)
    local_path = _local_path(remote)
    local = local_path is not None
    if local_path is not None:
        remote = str(local_path.resolve())
        credentials = None  # a path needs none; git would never ask
    uses_lfs = any(entry.lfs for entry in manifest.entries)
    with tempfile.TemporaryDirectory(prefix="fakescope-space-") as tmp, askpass_helper() as helper:
        work = Path(tmp)

        def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
            return run_git(args, work, check=check, credentials=credentials, askpass=helper)

        git("init", "-q", "-b", branch)
        if local:
            # No LFS server behind a path: store every file as a plain object, whatever LFS
            # configuration this machine has globally (info/attributes wins over .gitattributes).
            (work / ".git" / "info").mkdir(parents=True, exist_ok=True)
            (work / ".git" / "info" / "attributes").write_text("* -filter\n", encoding="utf-8")
        elif uses_lfs:
            if git("lfs", "version", check=False).returncode != 0:
                raise DeploymentError(
                    "git-lfs is needed to push weights and images to the Space: install it "
                    "(apt-get install git-lfs) and run again"
                )
            git("lfs", "install", "--local")
        heads = git("ls-remote", "--heads", remote, branch).stdout.strip()
        if heads:
            # The remote tip becomes HEAD and the index, without a checkout: nothing is
            # downloaded through LFS, and `add -A` below sees exactly what changed or went away.
            git("fetch", "-q", "--depth", "1", remote, branch)
            git("update-ref", f"refs/heads/{branch}", "FETCH_HEAD")
            git("read-tree", "HEAD")
        for entry in bundle.iterdir():
            if entry.name == ".git":
                continue
            if entry.is_dir():
                shutil.copytree(entry, work / entry.name)
            else:
                shutil.copy2(entry, work / entry.name)
        git("add", "-A")
        if not git("status", "--porcelain").stdout.strip():
            return PushResult(remote=shown, branch=branch, commit=None)
        git("commit", "-q", "-m", message or _default_message())
        git("push", "-q", remote, f"HEAD:refs/heads/{branch}")
        commit = git("rev-parse", "HEAD").stdout.strip()
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
    credentials = None
    if args.space:
        token = os.environ.get("HF_TOKEN", "").strip()
        if not re.match(r"^[\w.-]+/[\w.-]+$", args.space):
            print(f"error: --space must be OWNER/NAME, got {args.space!r}", file=sys.stderr)
            return 2
        if not token:
            print("error: --space needs the Space write token in $HF_TOKEN", file=sys.stderr)
            return 2
        # The token goes to git through its environment (askpass), never into the URL.
        remote = f"https://huggingface.co/spaces/{args.space}"
        credentials = GitCredentials("user", token)
    elif remote is not None:
        remote_clean, in_url = split_credentials(remote)
        if in_url is not None and in_url.password:
            print(
                "warning: the --push URL holds a password or token, readable by any user of this "
                "machine in this process's arguments; put the token in $HF_TOKEN and give the URL "
                "without it",
                file=sys.stderr,
            )
        host = (urllib.parse.urlsplit(remote_clean).hostname or "").lower()
        token = os.environ.get("HF_TOKEN", "").strip()
        if in_url is None and token and host in _HF_HOSTS:
            credentials = GitCredentials("user", token)
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
        result = push_bundle(
            args.out, remote, branch=args.branch, message=args.message, credentials=credentials
        )
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
