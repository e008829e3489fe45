"""`mimicdb-proxy` before it runs: help text, settings precedence, and one-line start errors."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from proxy import cli
from proxy.config import DEFAULT_UPSTREAM, ENV_VARS, Config

MIMICDB_PROXY = str(Path(sys.executable).parent / "mimicdb-proxy")


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any MIMICDB_* or AWS credential, HOME elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MIMICDB_") and not k.startswith("AWS_")
    }
    env["HOME"] = str(home)
    env.update(extra)
    return env


def run(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MIMICDB_PROXY, *args], env=dict(env), capture_output=True, text=True, timeout=60
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def resolve(argv: list[str], env: Mapping[str, str]) -> Config:
    """The configuration the CLI would run with, from the same parser and layering."""
    args = cli.build_parser().parse_args(argv)
    return cli._config(args, env)


# --help


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_the_four_commands_exist() -> None:
    assert set(subcommands()) == {"serve", "sync", "verify", "stats"}
    result = run(["--help"], os.environ)
    assert result.returncode == 0
    for name in subcommands():
        assert name in result.stdout


@pytest.mark.parametrize("command", ["serve", "sync", "verify", "stats"])
def test_every_flag_is_explained(command: str) -> None:
    sub = subcommands()[command]
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
    result = run([command, "--help"], os.environ)
    assert result.returncode == 0
    for action in sub._actions:
        for flag in action.option_strings:
            assert flag in result.stdout


# precedence: flags > MIMICDB_* > config file > defaults


def write_config(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_defaults_without_any_setting(tmp_path: Path) -> None:
    config = resolve(["serve"], clean_env(tmp_path))
    assert (config.upstream, config.log_format, config.list_price) == (
        DEFAULT_UPSTREAM,
        "text",
        0.005,
    )


def test_config_file_over_defaults(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "mimicdb.toml",
        'upstream = "http://file.example:9000"\nlisten = "127.0.0.1:9100"\n'
        'upstream-timeout = 7\nlist_price = 0.01\nupstream-anonymous = true\nlog-format = "json"\n',
    )
    config = resolve(["serve", "--config", path], clean_env(tmp_path))
    assert config.upstream == "http://file.example:9000"
    assert (config.host, config.port) == ("127.0.0.1", 9100)
    assert config.upstream_timeout == 7.0
    assert config.list_price == 0.01
    assert config.upstream_anonymous is True
    assert config.log_format == "json"


def test_environment_over_config_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "m.toml", 'upstream = "http://file:1"\nregion = "eu-west-1"\n')
    env = clean_env(tmp_path, MIMICDB_UPSTREAM="http://env:2")
    config = resolve(["serve", "--config", path], env)
    assert config.upstream == "http://env:2"
    assert config.region == "eu-west-1"  # what the environment does not say, the file does


def test_flags_over_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path / "m.toml", 'upstream = "http://file:1"\nget-price = 0.1\n')
    env = clean_env(tmp_path, MIMICDB_UPSTREAM="http://env:2", MIMICDB_GET_PRICE="0.2")
    config = resolve(
        ["serve", "--config", path, "--upstream", "http://flag:3", "--get-price", "0.3"], env
    )
    assert (config.upstream, config.get_price) == ("http://flag:3", 0.3)


def test_config_file_named_by_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path / "m.toml", 'backend = "memory://"\n')
    config = resolve(["sync"], clean_env(tmp_path, MIMICDB_CONFIG=path))
    assert config.backend == "memory://"


def test_every_variable_has_a_config_file_key(tmp_path: Path) -> None:
    from proxy.startup import config_file_settings

    lines = [f'{name.replace("_", "-")} = "x"' for name in ENV_VARS.values()]
    path = write_config(tmp_path / "all.toml", "\n".join(lines) + "\n")
    assert set(config_file_settings(path)) == set(ENV_VARS)


# one-line errors


def test_unknown_config_key_is_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path / "m.toml", 'upstreem = "http://typo"\n')
    result = run(
        ["serve", "--config", path],
        clean_env(tmp_path, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s"),
    )
    assert_one_line_error(result, "unknown setting 'upstreem'", "upstream")


def test_bad_toml_is_one_line(tmp_path: Path) -> None:
    path = write_config(tmp_path / "m.toml", "upstream = \n")
    assert_one_line_error(run(["serve", "--config", path], clean_env(tmp_path)), "not valid TOML")


def test_bad_number_in_the_environment_is_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path, MIMICDB_UPSTREAM_TIMEOUT="soon")
    assert_one_line_error(run(["serve"], env), "soon")


def test_bad_backend_url_is_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    result = run(
        ["serve", "--backend", "mysql://db/index", "--listen", f"127.0.0.1:{free_port()}"], env
    )
    assert_one_line_error(result, "unknown backend URL 'mysql://db/index'")


@pytest.mark.parametrize("command", ["serve", "sync"])
def test_unreachable_redis_is_one_line(tmp_path: Path, command: str) -> None:
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    args = [command, "--backend", url]
    if command == "serve":
        args += ["--listen", f"127.0.0.1:{free_port()}"]
    assert_one_line_error(run(args, env), f"cannot use the index at {url}")


def test_missing_credentials_is_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path)  # no variables, and HOME has no ~/.aws/credentials
    listen = ["--listen", f"127.0.0.1:{free_port()}"]
    # without client auth, only the upstream needs a pair
    result = run(["serve", "--backend", "memory://", "--anonymous", *listen], env)
    assert_one_line_error(result, "no upstream credentials", "--upstream-anonymous")
    # with client auth (the default), the same pair is also the one clients sign with
    assert_one_line_error(run(["serve", "--backend", "memory://", *listen], env), "credentials")
    assert_one_line_error(run(["sync", "--backend", "memory://"], env), "no upstream credentials")


def test_credentials_from_the_shared_file_are_enough(tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws/credentials").write_text(
        "[default]\naws_access_key_id = k\naws_secret_access_key = s\n", encoding="utf-8"
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(
            ["serve", "--backend", "memory://", "--listen", f"127.0.0.1:{port}"],
            clean_env(tmp_path),
        )
    # past the credentials check, stopped by the port: the file's pair was found
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}")


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["serve", "--backend", "memory://", "--listen", f"127.0.0.1:{port}"], env)
    assert_one_line_error(result, f"cannot listen on 127.0.0.1:{port}", "in use")


def test_stats_of_no_proxy_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run(["stats", "--url", url], clean_env(tmp_path))
    assert_one_line_error(result, f"cannot reach the proxy at {url}")
