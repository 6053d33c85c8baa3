"""Settings: one object, read from FAKESCOPE_* environment variables, passed into constructors.

Nothing happens at import: no folder is created and no variable is read until
:meth:`Settings.from_env` is called. Every field has a default that works from a fresh clone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from fakescope.errors import ConfigError

ENV_PREFIX = "FAKESCOPE_"
PRECISIONS = ("auto", "fp32", "bf16", "int8")
RUNTIMES = ("auto", "torch", "openvino", "onnxruntime")
# Megabytes as Streamlit counts them for uploads. Its uploader (in the browser) refuses a file
# over max_upload_size x 10**6 bytes (x 1024**2 when the browser runs on Windows); its server
# refuses one over server.maxUploadSize x 1024**2 bytes. ``Settings.max_file_bytes`` is the one
# limit; these turn it into Streamlit's units (see ``megabytes_covering``).
BROWSER_MEGABYTE = 1_000_000
SERVER_MEGABYTE = 1024 * 1024
WEBHOOK_SCHEMES = ("http", "https")
MAX_ALERT_TIMEOUT_SECONDS = 60.0


def megabytes_covering(count: int, megabyte: int) -> int:
    """The fewest whole megabytes of ``megabyte`` bytes that hold ``count`` bytes (at least 1).

    Used to set Streamlit's upload limits from ``Settings.max_file_bytes``, so no file the package
    accepts is refused before it reaches the package.
    """
    return max(1, -(-int(count) // int(megabyte)))


def webhook_url_problem(url: str) -> str | None:
    """What makes ``url`` unusable as an alert webhook, or None when it is usable.

    Only ``http://`` and ``https://`` URLs with a host are accepted: urllib would also open
    ``file://`` and ``ftp://`` ones. The answer never repeats the URL, whose path is usually the
    webhook's secret (a Slack incoming-webhook URL is its own credential).
    """
    if not isinstance(url, str):
        return f"must be text, got {type(url).__name__}"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in WEBHOOK_SCHEMES:
        scheme = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        return f"must be an http:// or https:// URL, got {scheme}"
    if not parts.hostname:
        return "must name a host, e.g. https://hooks.slack.com/services/..."
    return None


def _default_registry_dir() -> Path:
    """The `models/` folder of a source checkout (pip install -e), else `./models`."""
    checkout_models = Path(__file__).resolve().parents[2] / "models"
    if checkout_models.is_dir():
        return checkout_models
    return Path.cwd() / "models"


def _default_data_dir() -> Path:
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "fakescope"


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "fakescope"


@dataclass(frozen=True)
class Settings:
    """Everything FakeScope can be configured with.

    Attributes:
        model_source: a model folder or ``hf://owner/name@revision``; None means the registry's
            active version (FAKESCOPE_MODEL).
        fallback_model_source: loaded when ``model_source`` cannot be (e.g. the hub is out of
            reach); a folder, ``hf://...@rev``, or ``registry`` for the registry's active version
            (FAKESCOPE_FALLBACK_MODEL).
        registry_dir: the model registry folder (FAKESCOPE_REGISTRY_DIR).
        data_dir: where the prediction log lives (FAKESCOPE_DATA_DIR).
        database_url: SQLAlchemy URL of the prediction log; None means SQLite in ``data_dir``
            (FAKESCOPE_DATABASE_URL).
        threshold: fake probability at or above which an image is called fake (FAKESCOPE_THRESHOLD).
        uncertain_band: total width of the band around the threshold that is called uncertain
            (FAKESCOPE_UNCERTAIN_BAND); 0 disables it.
        photo_check: call an image that is not a photograph (a chart, drawing or screenshot)
            uncertain, with the reason, whatever its score (FAKESCOPE_PHOTO_CHECK=0 turns it
            off; see :mod:`fakescope.photo_check`).
        max_file_bytes: largest accepted upload (FAKESCOPE_MAX_FILE_MB, in megabytes of 10**6
            bytes, as the uploader counts them).
        max_pixels: largest accepted width x height (FAKESCOPE_MAX_PIXELS).
        min_side: smallest accepted width or height in pixels (FAKESCOPE_MIN_SIDE).
        max_jpeg_scans: most scans (SOS markers) a JPEG may have (FAKESCOPE_MAX_JPEG_SCANS).
            Every scan makes the decoder pass over all the image's blocks again, so the count,
            not the file size, bounds the work: real progressive JPEGs have about 10 scans,
            while 3000 empty scans in 300 KB take over 20 s to decode.
        max_batch_pixels: decoded pixels one batch of a ``predict`` call may hold at once
            (FAKESCOPE_MAX_BATCH_PIXELS); images past it wait for the batch's earlier ones.
        max_inflight_pixels: decoded pixels all batches of the process may hold at once
            (FAKESCOPE_MAX_INFLIGHT_PIXELS); an image that cannot get room within
            ``pixel_wait_seconds`` is refused with reason ``busy``. An image larger than a
            budget is decoded alone, when nothing else holds that budget.
        pixel_wait_seconds: how long an image waits for room in the pixel budgets
            (FAKESCOPE_PIXEL_WAIT_SECONDS).
        label_map: explicit model label -> ``fake``/``real`` map (FAKESCOPE_LABEL_MAP, JSON object
            or ``Label=fake,Other=real``); None means the built-in names.
        precision: ``auto``, ``fp32``, ``bf16`` or ``int8`` (FAKESCOPE_PRECISION).
        runtime: ``auto``, ``torch``, ``openvino`` or ``onnxruntime``: what runs the model
            (FAKESCOPE_RUNTIME). ``auto`` uses ONNX Runtime int8 for a transformer on a CPU
            without native bfloat16 when int8 keeps the answers, OpenVINO for fp32/bf16 when it
            is installed and the model exports, else torch (see :mod:`fakescope.backends`).
        cache_dir: where exported model graphs are kept between runs (FAKESCOPE_CACHE_DIR);
            defaults to ``$XDG_CACHE_HOME/fakescope`` (``~/.cache/fakescope``).
        batch_size: images per forward pass (FAKESCOPE_BATCH_SIZE).
        num_threads: intra-op threads of torch and OpenVINO; 0 leaves torch's default
            (FAKESCOPE_THREADS).
        retention_max_rows: prediction log cap in rows, 0 = no cap (FAKESCOPE_RETENTION_ROWS).
        retention_days: prediction log cap in days, 0 = no cap (FAKESCOPE_RETENTION_DAYS).
        admin_token: enables promote/rollback in the dashboard when set (FAKESCOPE_ADMIN_TOKEN).
        api_key_hashes: SHA-256 hex digests of the accepted API keys (FAKESCOPE_API_KEYS: a
            comma-separated list of keys, or of ``sha256:<hex>`` digests); empty means the API
            is open. Only digests are kept, never the keys.
        api_max_files: most files one ``POST /api/v1/predict`` may carry (FAKESCOPE_API_MAX_FILES).
        api_max_request_bytes: largest request body of the API, counted while it is read
            (FAKESCOPE_API_MAX_REQUEST_MB, megabytes of 10**6 bytes).
        api_rate_per_minute: requests per minute each key (or client address, without keys)
            may make on ``/api/v1/*`` (FAKESCOPE_API_RATE_PER_MINUTE); 0 turns the limit off.
        api_rate_burst: requests a client may make at once before the rate applies
            (FAKESCOPE_API_RATE_BURST).
        api_protect_ops: ``/healthz``, ``/readyz`` and ``/metrics`` need a key too
            (FAKESCOPE_API_PROTECT_OPS=1); they are open by default so probes and Prometheus work.
        alert_webhook_url: where monitoring alerts are POSTed as JSON, in Slack's
            incoming-webhook format (FAKESCOPE_ALERT_WEBHOOK_URL); only ``http://`` and
            ``https://`` URLs; empty turns alerts off. Kept out of ``repr``: the URL is the
            webhook's credential. See :mod:`fakescope.alerts`.
        alert_accuracy_floor: a window whose (estimated or measured) accuracy is below this
            sends an accuracy alert (FAKESCOPE_ALERT_ACCURACY_FLOOR, in [0, 1]; 0 never alerts).
            0.75 by default: the demo model's estimate on traffic like its reference is 0.82
            (docs/monitoring.md), so a window under 0.75 means the traffic or the model changed.
        alert_timeout_seconds: how long one webhook call may wait to connect and for each read
            of the answer (FAKESCOPE_ALERT_TIMEOUT, seconds, more than 0 and at most 60).
        alert_check_minutes: with a webhook set, the server checks the newest window every this
            many minutes and alerts without anyone opening the Monitor page
            (FAKESCOPE_ALERT_CHECK_MINUTES; 0 = only the page and ``fakescope monitor --alert``).
    """

    model_source: str | None = None
    fallback_model_source: str | None = None
    registry_dir: Path = field(default_factory=_default_registry_dir)
    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str | None = None
    threshold: float = 0.5
    uncertain_band: float = 0.2
    photo_check: bool = True
    # 20 MB as browsers and Streamlit's uploader count them (10**6 bytes): one limit, equal to
    # the dashboard uploader's to the byte (see BROWSER_MEGABYTE).
    max_file_bytes: int = 20 * BROWSER_MEGABYTE
    max_pixels: int = 40_000_000
    min_side: int = 32
    max_jpeg_scans: int = 100
    max_batch_pixels: int = 40_000_000
    max_inflight_pixels: int = 80_000_000
    pixel_wait_seconds: float = 30.0
    label_map: Mapping[str, str] | None = None
    precision: str = "auto"
    runtime: str = "auto"
    cache_dir: Path = field(default_factory=_default_cache_dir)
    batch_size: int = 8
    num_threads: int = 0
    retention_max_rows: int = 100_000
    retention_days: int = 0
    admin_token: str | None = dataclasses.field(default=None, repr=False)
    api_key_hashes: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    api_max_files: int = 20
    api_max_request_bytes: int = 50 * BROWSER_MEGABYTE
    api_rate_per_minute: float = 120.0
    api_rate_burst: int = 20
    api_protect_ops: bool = False
    alert_webhook_url: str = dataclasses.field(default="", repr=False)
    alert_accuracy_floor: float = 0.75
    alert_timeout_seconds: float = 5.0
    alert_check_minutes: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(
                f"threshold must be between 0 and 1 (exclusive), got {self.threshold}"
            )
        if not 0.0 <= self.uncertain_band < 1.0:
            raise ConfigError(f"uncertain_band must be in [0, 1), got {self.uncertain_band}")
        if self.max_file_bytes <= 0 or self.max_pixels <= 0 or self.min_side <= 0:
            raise ConfigError("size limits (max file size, max pixels, min side) must be positive")
        if self.max_jpeg_scans <= 0 or self.max_batch_pixels <= 0 or self.max_inflight_pixels <= 0:
            raise ConfigError(
                "decode limits (max JPEG scans, max batch pixels, max in-flight pixels) must be "
                "positive"
            )
        if not 0.0 <= self.pixel_wait_seconds <= 3600.0:
            raise ConfigError(
                f"pixel_wait_seconds must be between 0 and 3600, got {self.pixel_wait_seconds}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"runtime must be one of {', '.join(RUNTIMES)}, got {self.runtime!r}")
        if self.batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if self.label_map is not None:
            bad = {k: v for k, v in self.label_map.items() if v not in ("fake", "real")}
            if bad:
                raise ConfigError(f"label_map values must be 'fake' or 'real', got {bad}")
        if self.api_max_files <= 0 or self.api_max_request_bytes <= 0:
            raise ConfigError("API limits (max files, max request size) must be positive")
        if self.api_rate_per_minute < 0 or self.api_rate_burst <= 0:
            raise ConfigError(
                "API rate limits: the rate per minute must be >= 0 (0 = off) and the burst > 0"
            )
        if self.alert_webhook_url and (problem := webhook_url_problem(self.alert_webhook_url)):
            raise ConfigError(f"alert_webhook_url (FAKESCOPE_ALERT_WEBHOOK_URL) {problem}")
        if not 0.0 <= self.alert_accuracy_floor <= 1.0:
            raise ConfigError(
                f"alert_accuracy_floor must be between 0 and 1, got {self.alert_accuracy_floor}"
            )
        if not (
            math.isfinite(self.alert_timeout_seconds)
            and 0.0 < self.alert_timeout_seconds <= MAX_ALERT_TIMEOUT_SECONDS
        ):
            raise ConfigError(
                f"alert_timeout_seconds must be more than 0 and at most "
                f"{MAX_ALERT_TIMEOUT_SECONDS:g}, got {self.alert_timeout_seconds}"
            )
        if not (math.isfinite(self.alert_check_minutes) and self.alert_check_minutes >= 0):
            raise ConfigError(
                f"alert_check_minutes must be 0 (off) or more, got {self.alert_check_minutes}"
            )

    @property
    def resolved_database_url(self) -> str:
        """The prediction log's SQLAlchemy URL (SQLite in ``data_dir`` unless set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'predictions.db'}"

    def replace(self, **changes: object) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from FAKESCOPE_* variables (``os.environ`` unless given).

        Raises:
            ConfigError: a variable has a value of the wrong type or out of range.
        """
        env = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}

        def text(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value.strip() if value is not None and value.strip() else None

        def number(name: str, kind: type) -> object | None:
            raw = text(name)
            if raw is None:
                return None
            try:
                return kind(raw)
            except ValueError:
                raise ConfigError(
                    f"{ENV_PREFIX}{name} must be a{'n integer' if kind is int else ' number'}, "
                    f"got {raw!r}"
                ) from None

        if (value := text("MODEL")) is not None:
            kwargs["model_source"] = value
        if (value := text("FALLBACK_MODEL")) is not None:
            kwargs["fallback_model_source"] = value
        if (value := text("REGISTRY_DIR")) is not None:
            kwargs["registry_dir"] = Path(value).expanduser()
        if (value := text("DATA_DIR")) is not None:
            kwargs["data_dir"] = Path(value).expanduser()
        if (value := text("DATABASE_URL")) is not None:
            kwargs["database_url"] = value
        if (value := text("PRECISION")) is not None:
            kwargs["precision"] = value.lower()
        if (value := text("RUNTIME")) is not None:
            kwargs["runtime"] = value.lower()
        if (value := text("CACHE_DIR")) is not None:
            kwargs["cache_dir"] = Path(value).expanduser()
        if (value := text("ADMIN_TOKEN")) is not None:
            kwargs["admin_token"] = value
        if (value := text("LABEL_MAP")) is not None:
            kwargs["label_map"] = parse_label_map(value)
        if (value := text("API_KEYS")) is not None:
            kwargs["api_key_hashes"] = parse_api_keys(value)
        if (value := text("API_PROTECT_OPS")) is not None:
            kwargs["api_protect_ops"] = parse_flag(value, "API_PROTECT_OPS")
        if (value := text("PHOTO_CHECK")) is not None:
            kwargs["photo_check"] = parse_flag(value, "PHOTO_CHECK")
        if (value := text("ALERT_WEBHOOK_URL")) is not None:
            kwargs["alert_webhook_url"] = value
        for name, attr in (
            ("THRESHOLD", "threshold"),
            ("UNCERTAIN_BAND", "uncertain_band"),
            ("PIXEL_WAIT_SECONDS", "pixel_wait_seconds"),
            ("API_RATE_PER_MINUTE", "api_rate_per_minute"),
            ("ALERT_ACCURACY_FLOOR", "alert_accuracy_floor"),
            ("ALERT_TIMEOUT", "alert_timeout_seconds"),
            ("ALERT_CHECK_MINUTES", "alert_check_minutes"),
        ):
            if (parsed := number(name, float)) is not None:
                kwargs[attr] = parsed
        if (parsed := number("MAX_FILE_MB", float)) is not None:
            kwargs["max_file_bytes"] = int(parsed * BROWSER_MEGABYTE)
        if (parsed := number("API_MAX_REQUEST_MB", float)) is not None:
            kwargs["api_max_request_bytes"] = int(parsed * BROWSER_MEGABYTE)
        for name, attr in (
            ("MAX_PIXELS", "max_pixels"),
            ("MIN_SIDE", "min_side"),
            ("MAX_JPEG_SCANS", "max_jpeg_scans"),
            ("MAX_BATCH_PIXELS", "max_batch_pixels"),
            ("MAX_INFLIGHT_PIXELS", "max_inflight_pixels"),
            ("BATCH_SIZE", "batch_size"),
            ("THREADS", "num_threads"),
            ("RETENTION_ROWS", "retention_max_rows"),
            ("RETENTION_DAYS", "retention_days"),
            ("API_MAX_FILES", "api_max_files"),
            ("API_RATE_BURST", "api_rate_burst"),
        ):
            if (parsed := number(name, int)) is not None:
                kwargs[attr] = parsed
        return cls(**kwargs)


def parse_label_map(raw: str) -> dict[str, str]:
    """Parse a label map given as JSON (``{"LABEL_0": "real"}``) or ``LABEL_0=real,LABEL_1=fake``.

    Raises:
        ConfigError: the text is neither form, or a value is not ``fake``/``real``.
    """
    raw = raw.strip()
    try:
        if raw.startswith("{"):
            parsed = json.loads(raw)
            if not isinstance(parsed, dict):
                raise ValueError
            mapping = {str(k): str(v).strip().lower() for k, v in parsed.items()}
        else:
            mapping = {}
            for pair in raw.split(","):
                label, _, verdict = pair.partition("=")
                if not label.strip() or not verdict.strip():
                    raise ValueError
                mapping[label.strip()] = verdict.strip().lower()
    except ValueError:
        raise ConfigError(
            f"label map must be a JSON object or 'Label=fake,Other=real', got {raw!r}"
        ) from None
    bad = {k: v for k, v in mapping.items() if v not in ("fake", "real")}
    if bad:
        raise ConfigError(f"label map values must be 'fake' or 'real', got {bad}")
    return mapping


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest FakeScope keeps instead of an API key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_api_keys(raw: str) -> tuple[str, ...]:
    """Turn FAKESCOPE_API_KEYS into SHA-256 digests: ``key1,key2`` or ``sha256:<64 hex>,...``.

    A ``sha256:`` entry lets a deployment keep even the plain keys out of its environment.

    Raises:
        ConfigError: an entry is empty or a ``sha256:`` entry is not 64 hex digits.
    """
    digests: list[str] = []
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            raise ConfigError("FAKESCOPE_API_KEYS has an empty entry; separate keys with commas")
        if entry.lower().startswith("sha256:"):
            digest = entry[7:].strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ConfigError(
                    "FAKESCOPE_API_KEYS: a sha256: entry must be 64 hex digits "
                    "(python -c \"import hashlib; print(hashlib.sha256(b'KEY').hexdigest())\")"
                )
            digests.append(digest)
        else:
            digests.append(hash_api_key(entry))
    return tuple(dict.fromkeys(digests))


def parse_flag(raw: str, name: str) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off (any case).

    Raises:
        ConfigError: anything else.
    """
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{ENV_PREFIX}{name} must be 1/true/yes/on or 0/false/no/off, got {raw!r}")
