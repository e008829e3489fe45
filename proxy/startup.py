"""What `mimicdb-proxy` reads and checks before it runs: the config file, the index, credentials.

Every failure here is a `StartupError` whose message is one line the CLI prints as
is: a person who typed a bad URL needs the URL and the fix, not a traceback.
"""

from __future__ import annotations

import asyncio
import socket
import tomllib
from collections.abc import Mapping
from pathlib import Path

from .backends import backend_from_url
from .backends.base import Backend
from .config import ENV_VARS, Config

__all__ = [
    "CONFIG_FILE_VAR",
    "StartupError",
    "check_credentials",
    "check_index",
    "check_port",
    "config_file_settings",
    "layered_env",
    "preflight",
]

# The variable that names a config file when no --config flag does.
CONFIG_FILE_VAR = "MIMICDB_CONFIG"

# How long an index may take to answer its first PING before the start is given up.
_INDEX_TIMEOUT = 10.0


class StartupError(Exception):
    """A reason not to start, in one line."""


def _setting_vars() -> dict[str, str]:
    """File key -> variable: a flag's name (`upstream-timeout`) or the variable's tail."""
    names: dict[str, str] = {}
    for var, name in ENV_VARS.items():
        names[name] = var
        names[var.removeprefix("MIMICDB_").lower()] = var
    names.pop(CONFIG_FILE_VAR.removeprefix("MIMICDB_").lower(), None)  # no file names a file
    return names


def config_file_settings(path: str) -> dict[str, str]:
    """A TOML file's settings as the `MIMICDB_*` variables they stand for."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise StartupError(f"cannot read config file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StartupError(f"config file {path} is not valid TOML: {exc}") from exc
    known = _setting_vars()
    out: dict[str, str] = {}
    for key, value in data.items():
        var = known.get(key.replace("-", "_"))
        if var is None:
            flags = (k.replace("_", "-") for k in known if k in ENV_VARS.values())
            choices = ", ".join(sorted(flags))
            raise StartupError(f"unknown setting {key!r} in {path}; known settings: {choices}")
        if isinstance(value, dict | list):
            raise StartupError(f"setting {key!r} in {path} must be a single value")
        out[var] = str(value).lower() if isinstance(value, bool) else str(value)
    return out


def layered_env(env: Mapping[str, str], config_file: str | None) -> dict[str, str]:
    """The environment over the config file's settings: variables win, the file fills in."""
    path = config_file or env.get(CONFIG_FILE_VAR)
    if not path:
        return dict(env)
    return {**config_file_settings(path), **env}


def check_credentials(config: Config) -> None:
    """Upstream credentials are present, or anonymous upstream access was asked for."""
    if config.credentials is None and not config.upstream_anonymous:
        raise StartupError(
            "no upstream credentials: set MIMICDB_ACCESS_KEY_ID and MIMICDB_SECRET_ACCESS_KEY "
            "(or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials), "
            "or pass --upstream-anonymous for a public bucket"
        )


def open_backend(url: str) -> Backend:
    """The backend a URL names, or a one-line error."""
    try:
        return backend_from_url(url)
    except ValueError as exc:
        raise StartupError(str(exc)) from exc


async def check_index(url: str, timeout: float = _INDEX_TIMEOUT) -> None:
    """Open the index once and ask it to answer; close it again."""
    backend = open_backend(url)
    try:
        await asyncio.wait_for(_ping(backend), timeout)
    except TimeoutError as exc:
        raise StartupError(f"the index at {url} did not answer within {timeout:g}s") from exc
    except StartupError:
        raise
    except Exception as exc:  # redis, sqlite and OS errors all mean: cannot use this index
        raise StartupError(f"cannot use the index at {url}: {_reason(exc)}") from exc


async def _ping(backend: Backend) -> None:
    await backend.open()
    try:
        if not await backend.ping():
            raise StartupError("the index did not answer PING")
    finally:
        await backend.close()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def check_port(host: str, port: int) -> None:
    """The address can be listened on (the server binds it again right after)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # As the server will: a port in TIME_WAIT is free, one with a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def preflight(config: Config, *, listen: bool) -> None:
    """Every check before a run: credentials, the index answers, and (serving) the port."""
    check_credentials(config)
    if listen:
        check_port(config.host, config.port)
    asyncio.run(check_index(config.backend))
