"""The client key pairs the proxy knows, and what each may do.

A key pair may be limited to named buckets and to reading. Pairs come from the
upstream credentials (by default), a credentials file in the shape of
`~/.aws/credentials` (with optional `buckets = a,b` and `read_only = true` per
section) and `MIMICDB_CLIENT_*` variables. Deciding is pure: `classify` says what a
request touches, `authorize` says whether a key may.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from .errors import AccessDenied

__all__ = [
    "AccessKey",
    "Operation",
    "authorize",
    "build_keyring",
    "classify",
    "client_keys_from_env",
    "copy_source_bucket",
    "parse_bool",
    "parse_credentials_file",
    "read_credentials_file",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_READS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True)
class AccessKey:
    """A key pair clients sign with; `buckets` None means every bucket."""

    access_key: str
    secret_key: str
    buckets: frozenset[str] | None = None
    read_only: bool = False

    @property
    def unrestricted(self) -> bool:
        """Every bucket, reads and writes: what the admin API asks for."""
        return self.buckets is None and not self.read_only


@dataclass(frozen=True)
class Operation:
    """What a request touches, as far as permissions go."""

    buckets: tuple[str, ...]  # the bucket addressed, and a copy's source bucket
    write: bool
    service: bool = False  # ListBuckets: the names of every bucket
    admin: str | None = None  # the /_mimicdb/ endpoint's name


def parse_bool(value: str) -> bool:
    """`true`/`false` and the usual spellings; anything else is a ValueError."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _buckets(value: str | None) -> frozenset[str] | None:
    if value is None or value.strip() in ("", "*"):
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def parse_credentials_file(text: str, source: str = "credentials file") -> tuple[AccessKey, ...]:
    """Key pairs from INI text: one section per pair, as `~/.aws/credentials` writes them."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=source)
    except configparser.Error as exc:
        raise ValueError(f"{source}: {exc}") from exc
    keys = []
    for name in parser.sections():
        section = parser[name]
        key = section.get("aws_access_key_id", "").strip()
        secret = section.get("aws_secret_access_key", "").strip()
        if not key or not secret:
            raise ValueError(
                f"{source} [{name}]: aws_access_key_id and aws_secret_access_key are both required"
            )
        try:
            read_only = parse_bool(section.get("read_only", "false"))
        except ValueError as exc:
            raise ValueError(f"{source} [{name}]: read_only: {exc}") from exc
        keys.append(AccessKey(key, secret, _buckets(section.get("buckets")), read_only))
    return tuple(keys)


def read_credentials_file(path: str) -> tuple[AccessKey, ...]:
    """The key pairs of a credentials file; an unreadable file is a ValueError."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read credentials file {path}: {exc}") from exc
    return parse_credentials_file(text, path)


def client_keys_from_env(env: Mapping[str, str]) -> tuple[AccessKey, ...]:
    """One more pair from MIMICDB_CLIENT_ACCESS_KEY_ID, _SECRET_ACCESS_KEY, _BUCKETS, _READ_ONLY."""
    key = env.get("MIMICDB_CLIENT_ACCESS_KEY_ID", "").strip()
    secret = env.get("MIMICDB_CLIENT_SECRET_ACCESS_KEY", "").strip()
    if not key and not secret:
        return ()
    if not key or not secret:
        raise ValueError(
            "MIMICDB_CLIENT_ACCESS_KEY_ID and MIMICDB_CLIENT_SECRET_ACCESS_KEY go together"
        )
    read_only = parse_bool(env.get("MIMICDB_CLIENT_READ_ONLY", "false"))
    return (AccessKey(key, secret, _buckets(env.get("MIMICDB_CLIENT_BUCKETS")), read_only),)


def build_keyring(
    upstream: tuple[str, str] | None, extra: Iterable[AccessKey]
) -> dict[str, AccessKey]:
    """Access key id -> pair; one id with two secrets is an error.

    The upstream pair may do anything, unless `extra` names it again with limits.
    """
    ring: dict[str, AccessKey] = {}
    pairs = [AccessKey(*upstream)] if upstream is not None else []
    for pair in [*pairs, *extra]:
        known = ring.get(pair.access_key)
        if known is not None and known.secret_key != pair.secret_key:
            raise ValueError(f"access key {pair.access_key} is configured with two secrets")
        ring[pair.access_key] = pair
    return ring


def copy_source_bucket(value: str) -> str:
    """The bucket of an `x-amz-copy-source` value (`/bucket/key?versionId=...`, encoded)."""
    path = unquote(value.split("?", 1)[0]).lstrip("/")
    return path.split("/", 1)[0]


def classify(
    method: str, bucket: str | None, copy_source: str | None = None, admin: str | None = None
) -> Operation:
    """What a request touches: its bucket(s), whether it writes, service or admin level."""
    write = method.upper() not in _READS
    if admin is not None:
        return Operation((), write, admin=admin)
    if bucket is None:
        return Operation((), write, service=True)
    buckets = [bucket]
    if copy_source:
        buckets.append(copy_source_bucket(copy_source))
    return Operation(tuple(buckets), write)


def authorize(key: AccessKey, operation: Operation) -> None:
    """Raise AccessDenied unless `key` may do `operation`."""
    if operation.write and key.read_only:
        raise AccessDenied()
    if operation.admin is not None:
        # health only says whether the index answers; the rest shows or changes every bucket
        if operation.admin != "health" and key.buckets is not None:
            raise AccessDenied()
        return
    if key.buckets is None:
        return
    if operation.service:
        raise AccessDenied()  # a list of every bucket is beyond a bucket-limited key
    if any(bucket not in key.buckets for bucket in operation.buckets):
        raise AccessDenied()
