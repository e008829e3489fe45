"""The proxy's frozen `Config`, built from flags and `MIMICDB_*` variables given as a mapping."""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

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
}


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

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> Config:
        """Build from `MIMICDB_*` (and AWS_*) variables, then apply non-None overrides."""
        values: dict[str, object] = {}
        if "MIMICDB_LISTEN" in env:
            host, port = parse_listen(env["MIMICDB_LISTEN"])
            values.update(host=host, port=port)
        for var, name in ENV_VARS.items():
            if var in env and name not in ("listen", "access_key", "secret_key"):
                values[name] = env[var]
        if "upstream_timeout" in values:
            values["upstream_timeout"] = float(str(values["upstream_timeout"]))
        if "region" not in values:
            region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            if region:
                values["region"] = region
        values["credentials"] = load_credentials(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]


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
