"""The proxy's frozen `Config`, built from flags and `MIMICDB_*` variables given as a mapping."""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .access import AccessKey, client_keys_from_env

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_UPSTREAM",
    "ENV_VARS",
    "Config",
    "Credentials",
    "load_credentials",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7480
DEFAULT_UPSTREAM = "https://s3.amazonaws.com"
DEFAULT_BACKEND = "sqlite:///mimicdb.db"

# Every variable `Config.from_env` reads; the Dockerfile, compose file and README name these.
ENV_VARS = {
    "MIMICDB_LISTEN": "listen",
    "MIMICDB_UPSTREAM": "upstream",
    "MIMICDB_REGION": "region",
    "MIMICDB_BACKEND": "backend",
    "MIMICDB_DOMAIN": "domain",
    "MIMICDB_UPSTREAM_TIMEOUT": "upstream_timeout",
    "MIMICDB_ACCESS_KEY_ID": "access_key",
    "MIMICDB_SECRET_ACCESS_KEY": "secret_key",
    "MIMICDB_ANONYMOUS": "anonymous",
    "MIMICDB_PUBLIC_METRICS": "public_metrics",
    "MIMICDB_CREDENTIALS_FILE": "credentials_file",
    "MIMICDB_CLIENT_ACCESS_KEY_ID": "client_access_key",
    "MIMICDB_CLIENT_SECRET_ACCESS_KEY": "client_secret_key",
    "MIMICDB_CLIENT_BUCKETS": "client_buckets",
    "MIMICDB_CLIENT_READ_ONLY": "client_read_only",
    "MIMICDB_CLIENT_REGION": "client_region",
    "MIMICDB_UPSTREAM_ANONYMOUS": "upstream_anonymous",
    "MIMICDB_LOG_FORMAT": "log_format",
    "MIMICDB_LIST_PRICE": "list_price",
    "MIMICDB_GET_PRICE": "get_price",
    "MIMICDB_SYNC_WORKERS": "sync_workers",
    "MIMICDB_SYNC_LEASE": "sync_lease",
    "MIMICDB_RESYNC_EVERY": "resync_every",
    "MIMICDB_UNSYNCED": "unsynced",
    "MIMICDB_STATE_DIR": "state_dir",
}


# Variables that together make one client key pair (access.client_keys_from_env).
_CLIENT_KEY = ("client_access_key", "client_secret_key", "client_buckets", "client_read_only")


@dataclass(frozen=True)
class Credentials:
    """An access key pair (and session token) for signing upstream requests."""

    access_key: str
    secret_key: str
    session_token: str | None = None


@dataclass(frozen=True)
class Config:
    """Everything the proxy needs to run; immutable once built."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    upstream: str = DEFAULT_UPSTREAM
    region: str = "us-east-1"
    backend: str = DEFAULT_BACKEND
    domain: str | None = None  # enables virtual-host addressing: bucket.<domain>
    upstream_timeout: float = 30.0
    credentials: Credentials | None = None
    allow_remote: bool = False  # listening beyond loopback needs client auth (not yet)
    extra: Mapping[str, str] = field(default_factory=dict)
    # Client authentication: clients sign with the upstream pair, `client_keys` or the
    # pairs of `credentials_file`; `anonymous` turns checking off (loopback only).
    anonymous: bool = False
    # health and metrics without a signature: probes and Prometheus cannot sign
    public_metrics: bool = False
    credentials_file: str | None = None
    client_keys: tuple[AccessKey, ...] = ()
    # The one region a client's V4 credential scope may name; None accepts any. Off by
    # default: botocore answers a wrong-region error by going to AWS's regional
    # endpoint itself, past the proxy (which re-signs every request upstream anyway).
    client_region: str | None = None
    upstream_anonymous: bool = False  # no credentials on purpose: upstream requests unsigned
    log_format: str = "text"  # "text" or "json" (one object per line)
    # dollars per 1,000 requests, S3 Standard list prices: what avoided requests would cost
    list_price: float = 0.005  # LIST class (ListObjects, ListObjectsV2, ListBuckets)
    get_price: float = 0.0004  # GET class (HeadObject, HeadBucket, GetBucketLocation, ...)
    # Sync and upkeep of the index (keeper.py): concurrent ListObjectsV2 readers per sync,
    # seconds a sync's session lives without a heartbeat, background re-sync period,
    # what reads of never-synced buckets do ("strict", "passthrough" or "sync"), and
    # where the repair journal lives ("": beside a SQLite index, else the working dir).
    sync_workers: int = 8
    sync_lease: float = 60.0
    resync_every: float | None = None
    unsynced: str = "strict"
    state_dir: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Config:
        """Build from `MIMICDB_*` (and AWS_*) variables, then apply non-None overrides."""
        values: dict[str, object] = {}
        if "MIMICDB_LISTEN" in env:
            host, port = parse_listen(env["MIMICDB_LISTEN"])
            values.update(host=host, port=port)
        for var, name in ENV_VARS.items():
            if var in env and name not in ("listen", "access_key", "secret_key", *_CLIENT_KEY):
                values[name] = env[var]
        if "upstream_timeout" in values:
            values["upstream_timeout"] = float(str(values["upstream_timeout"]))
        for name in ("list_price", "get_price"):
            if name in values:
                values[name] = float(str(values[name]))
        if "upstream_anonymous" in values:
            values["upstream_anonymous"] = parse_flag(str(values["upstream_anonymous"]))
        if "anonymous" in values:
            values["anonymous"] = parse_flag(str(values["anonymous"]))
        if "public_metrics" in values:
            values["public_metrics"] = parse_flag(str(values["public_metrics"]))
        if "client_region" in values:
            values["client_region"] = str(values["client_region"]).strip() or None
        if "sync_workers" in values:
            values["sync_workers"] = int(str(values["sync_workers"]))
        if "sync_lease" in values:
            values["sync_lease"] = parse_duration(str(values["sync_lease"]))
        if "resync_every" in values:
            values["resync_every"] = parse_duration(str(values["resync_every"])) or None
        client_keys = client_keys_from_env(env)
        if client_keys:
            values["client_keys"] = client_keys
        if "region" not in values:
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        values["credentials"] = load_credentials(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]


def parse_flag(value: str) -> bool:
    """`1/true/yes/on` or `0/false/no/off` (any case), as environment variables spell flags."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a true/false value: {value!r}")


def parse_duration(value: str) -> float:
    """`90`, `90s`, `15m`, `2h`, `1d` (or `1.5h`) into seconds."""
    text = value.strip().lower()
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    scale = units.get(text[-1:], None)
    number = text[:-1] if scale is not None else text
    seconds = float(number) * (scale or 1.0)
    if seconds < 0 or seconds != seconds:
        raise ValueError(f"not a duration: {value!r}")
    return seconds


def parse_listen(value: str) -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` into (host, port)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    return host, int(port)


def load_credentials(env: Mapping[str, str]) -> Credentials | None:
    """Upstream credentials from MIMICDB_*, then AWS_* variables, then the shared file."""
    key = env.get("MIMICDB_ACCESS_KEY_ID") or env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("MIMICDB_SECRET_ACCESS_KEY") or env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        return Credentials(key, secret, env.get("AWS_SESSION_TOKEN") or None)
    path = Path(
        env.get("AWS_SHARED_CREDENTIALS_FILE") or Path(env.get("HOME", "~")) / ".aws/credentials"
    ).expanduser()
    profile = env.get("AWS_PROFILE", "default")
    parser = configparser.ConfigParser()
    try:
        parser.read(os.fspath(path))
    except configparser.Error:
        return None
    if parser.has_section(profile):
        section = parser[profile]
        key = section.get("aws_access_key_id")
        secret = section.get("aws_secret_access_key")
        if key and secret:
            return Credentials(key, secret, section.get("aws_session_token"))
    return None
