"""The sidecar files, checked without a Docker engine: Dockerfile, docker-compose.yml, variables.

What needs an engine (building the image, `docker compose up`) is not run here; what
the files promise is: their commands are run against a real proxy, their variables
are the ones the code reads, and the compose file wires the services as described.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from proxy.backends import backend_from_url
from proxy.config import ENV_VARS, Config, parse_listen
from proxy.embedded import EmbeddedProxy

from .fixtures.redis_server import RedisServer
from .fixtures.s3_server import MotoUpstream
from .test_access_log import wait_until_healthy
from .test_startup import free_port

ROOT = Path(__file__).resolve().parent.parent
MIMICDB_PROXY = str(Path(sys.executable).parent / "mimicdb-proxy")
VARIABLE = re.compile(r"MIMICDB_[A-Z0-9_]*[A-Z0-9]")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """(INSTRUCTION, arguments) per build stage, continuations joined, comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: list[list[tuple[str, str]]] = []
    for line in joined.splitlines():
        if not line.strip():
            continue
        instruction, _, rest = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def final_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


def instruction(name: str) -> str:
    found = [rest for inst, rest in final_stage() if inst == name]
    assert found, f"the final stage has no {name}"
    return found[-1]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for inst, rest in final_stage():
        if inst == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(rest))  # type: ignore[misc]
    return env


def healthcheck_command() -> list[str]:
    rest = instruction("HEALTHCHECK")
    command: list[str] = json.loads(rest[rest.index("CMD ") + 4 :])
    return command


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    return data


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` against `env`."""

    def one(match: re.Match[str]) -> str:
        name, kind, default = match.group(1), match.group(2), match.group(3) or ""
        if env.get(name):
            return env[name]
        if kind == "?":
            raise AssertionError(f"compose needs {name}: {default}")
        return default

    return INTERPOLATION.sub(one, value)


def variables_the_code_reads() -> set[str]:
    """Every string literal in proxy/ that is a whole MIMICDB_* name."""
    names: set[str] = set()
    for path in (ROOT / "proxy").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if VARIABLE.fullmatch(node.value):
                    names.add(node.value)
    return names


# the Dockerfile


def test_dockerfile_is_small_multi_stage_and_unprivileged() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    for stage in stages:
        image = stage[0][1].split()[0]
        assert image.endswith("-slim") or "-slim-" in image, image
    final = final_stage()
    assert any(inst == "COPY" and rest.startswith("--from=") for inst, rest in final)
    user = instruction("USER")
    assert user.split(":")[0] not in ("root", "0")
    order = [inst for inst, _ in final]
    assert order.index("USER") < order.index("ENTRYPOINT")


def test_dockerfile_runs_serve_with_a_health_check() -> None:
    assert json.loads(instruction("ENTRYPOINT")) == ["mimicdb-proxy"]
    assert json.loads(instruction("CMD")) == ["serve"]
    assert healthcheck_command() == ["python", "-m", "proxy.healthcheck"]  # run below
    _, port = parse_listen(dockerfile_env()["MIMICDB_LISTEN"])
    assert instruction("EXPOSE").split("/")[0] == str(port)
    # the default index is a SQLite file inside the volume, so it outlives the container
    backend = urlsplit(dockerfile_env()["MIMICDB_BACKEND"])
    volume = json.loads(instruction("VOLUME"))[0]
    assert backend.scheme == "sqlite"
    assert ("/" + backend.path.lstrip("/")).startswith(volume.rstrip("/") + "/")


# docker-compose.yml


def test_compose_runs_the_proxy_on_a_healthy_persistent_redis() -> None:
    data = compose()
    services = data["services"]
    assert set(services) == {"mimicdb", "redis"}
    redis = services["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    volume, _, mount = redis["volumes"][0].partition(":")
    assert volume in data["volumes"] and mount == "/data"
    assert "redis-cli" in redis["healthcheck"]["test"]

    proxy = services["mimicdb"]
    assert proxy["build"] == "."
    assert proxy["depends_on"]["redis"]["condition"] == "service_healthy"
    env = {k: interpolate(str(v), {}) for k, v in proxy["environment"].items()}
    host, port = parse_listen(env["MIMICDB_LISTEN"])
    assert host == "0.0.0.0"
    published = [str(p).rsplit(":", 1) for p in proxy["ports"]]
    assert [p[1] for p in published] == [str(port)]
    assert published[0][0].startswith("127.0.0.1:")  # the host side stays on loopback
    backend = urlsplit(env["MIMICDB_BACKEND"])
    assert backend.scheme == "redis" and backend.hostname == "redis"
    assert backend_from_url(env["MIMICDB_BACKEND"]) is not None
    assert proxy["healthcheck"]["test"] == ["CMD", *healthcheck_command()]


def test_compose_defaults_build_a_config() -> None:
    proxy = compose()["services"]["mimicdb"]
    shell = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
    env = {k: interpolate(str(v), shell) for k, v in proxy["environment"].items()}
    config = Config.from_env(env)
    assert config.upstream == "https://s3.amazonaws.com"
    assert config.backend == "redis://redis:6379/0"
    assert config.credentials is not None and config.credentials.access_key == "AKIDEXAMPLE"
    assert config.log_format == "json"


# variables: the files and the code name the same ones


def test_every_variable_in_the_files_is_read_by_the_code_and_back() -> None:
    code = variables_the_code_reads()
    assert set(ENV_VARS) <= code
    docker = set(VARIABLE.findall((ROOT / "Dockerfile").read_text("utf-8")))
    compose_text = set(VARIABLE.findall((ROOT / "docker-compose.yml").read_text("utf-8")))
    in_use = set(dockerfile_env()) | set(compose()["services"]["mimicdb"]["environment"])
    assert {v for v in in_use if v.startswith("MIMICDB_")} <= code
    assert docker | compose_text <= code, "the sidecar files name variables no code reads"
    assert code <= docker | compose_text, "variables the code reads that the sidecar never shows"


def test_every_setting_is_in_the_configuration_reference() -> None:
    reference = (ROOT / "docs" / "operations.md").read_text("utf-8")
    missing = sorted(v for v in variables_the_code_reads() if v not in reference)
    assert not missing, f"docs/operations.md does not describe {missing}"


# the files' commands, run against a real proxy


@pytest.fixture
def served_like_the_container(
    s3_upstream: MotoUpstream, redis_server: RedisServer, redis_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], subprocess.Popen[bytes], Path]]:
    """`mimicdb-proxy serve` with only the environment the Dockerfile and compose file set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MIMICDB_", "AWS_"))}
    shell = {
        "MIMICDB_UPSTREAM": s3_upstream.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    env.update(dockerfile_env())
    for name, value in compose()["services"]["mimicdb"]["environment"].items():
        env[name] = interpolate(str(value), shell)
    # Differences from the container, and why: the compose network's "redis" host is the
    # test's redis-server here, and the proxy listens on loopback and a free port.
    env["MIMICDB_BACKEND"] = redis_url
    env["MIMICDB_LISTEN"] = f"127.0.0.1:{free_port()}"
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as sink:
        command = [MIMICDB_PROXY, *json.loads(instruction("CMD"))]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        _, port = parse_listen(env["MIMICDB_LISTEN"])
        wait_until_healthy(f"http://127.0.0.1:{port}", process)
        yield env, process, stderr
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_healthcheck(env: Mapping[str, str]) -> int:
    command = healthcheck_command()
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:]], env=dict(env), timeout=30).returncode


def test_the_container_environment_serves_and_passes_its_healthcheck(
    served_like_the_container: tuple[dict[str, str], subprocess.Popen[bytes], Path],
    redis_server: RedisServer,
) -> None:
    env, _, stderr = served_like_the_container
    assert run_healthcheck(env) == 0
    first = json.loads(stderr.read_text().splitlines()[0])  # MIMICDB_LOG_FORMAT=json
    assert first["logger"] == "mimicdb.serve"
    redis_server.stop()  # the index gone: not ready, and the health check says so
    try:
        assert run_healthcheck(env) != 0
    finally:
        redis_server.start()
    assert run_healthcheck(env) == 0


def test_the_healthcheck_fails_when_nothing_listens(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MIMICDB_LISTEN": f"127.0.0.1:{free_port()}",
        "MIMICDB_ACCESS_KEY_ID": "testing",
        "MIMICDB_SECRET_ACCESS_KEY": "testing",
    }
    assert run_healthcheck(env) != 0


def test_the_healthcheck_signs_with_the_proxys_key_pair(
    served_like_the_container: tuple[dict[str, str], subprocess.Popen[bytes], Path],
) -> None:
    env, _, _ = served_like_the_container
    wrong = {**env, "MIMICDB_SECRET_ACCESS_KEY": "not-the-secret"}
    assert run_healthcheck(wrong) != 0  # refused: the admin API checks signatures
    assert run_healthcheck(env) == 0


def test_the_healthcheck_can_sign_with_a_client_pair(
    make_proxy: Callable[..., EmbeddedProxy], tmp_path: Path
) -> None:
    from proxy.access import AccessKey
    from proxy.healthcheck import check

    proxy = make_proxy("memory", client_keys=(AccessKey("app", "app-secret"),))
    env = {
        "HOME": str(tmp_path),  # no ~/.aws/credentials: no upstream pair at all
        "MIMICDB_LISTEN": urlsplit(proxy.url).netloc,
        "MIMICDB_UPSTREAM_ANONYMOUS": "true",
        "MIMICDB_CLIENT_ACCESS_KEY_ID": "app",
        "MIMICDB_CLIENT_SECRET_ACCESS_KEY": "app-secret",
    }
    ready, line = check(env)
    assert ready, line
    ready, line = check({**env, "MIMICDB_CLIENT_SECRET_ACCESS_KEY": "wrong"})
    assert not ready and ": 403 " in line
