"""The access log (text and JSON) and `mimicdb-proxy stats`, against a served proxy."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from proxy.access_log import ACCESS_LOGGER
from proxy.embedded import EmbeddedProxy

from .fixtures.s3_server import MotoUpstream
from .s3http import s3_request
from .test_startup import free_port

MIMICDB_PROXY = str(Path(sys.executable).parent / "mimicdb-proxy")
BUCKET = "logged-bucket"


def wait_until_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mimicdb-proxy exited with {process.returncode}")
        try:
            if s3_request("GET", url, "/_mimicdb/health").status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.05)
    raise AssertionError("mimicdb-proxy did not become healthy")


@pytest.fixture
def served(s3_upstream: MotoUpstream, tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """`mimicdb-proxy serve --config FILE --log-format json` as its own process."""
    port = free_port()
    config = tmp_path / "mimicdb.toml"
    config.write_text(
        f'listen = "127.0.0.1:{port}"\nupstream = "{s3_upstream.url}"\n'
        f'backend = "sqlite:///{tmp_path}/index.db"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMICDB_")}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [MIMICDB_PROXY, "serve", "--config", str(config), "--log-format", "json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url, config, stderr
    finally:
        process.terminate()
        process.wait(timeout=30)


def client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_json_lines_name_operation_bucket_status_source_duration(
    served: tuple[str, Path, Path], s3_upstream: MotoUpstream
) -> None:
    url, _, stderr = served
    client(s3_upstream.url).create_bucket(Bucket=BUCKET)
    client(s3_upstream.url).put_object(Bucket=BUCKET, Key="k", Body=b"v")
    assert s3_request("POST", url, "/_mimicdb/sync").status_code == 200
    proxy = client(url)
    proxy.list_objects_v2(Bucket=BUCKET)
    proxy.get_object(Bucket=BUCKET, Key="k")["Body"].read()
    with pytest.raises(ClientError):
        proxy.head_object(Bucket=BUCKET, Key="missing")

    # every line on stderr is one JSON object, the start line too
    lines = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    assert lines[0]["logger"] == "mimicdb.serve"
    access = [line for line in lines if line["logger"] == ACCESS_LOGGER]
    by_operation = {line["operation"]: line for line in access}
    listing = by_operation["ListObjectsV2"]
    assert (listing["bucket"], listing["status"], listing["answered_from"]) == (
        BUCKET,
        200,
        "index",
    )
    assert listing["method"] == "GET" and listing["path"] == f"/{BUCKET}"
    assert isinstance(listing["duration_ms"], float) and listing["duration_ms"] >= 0
    get = by_operation["GetObject"]
    assert (get["status"], get["answered_from"]) == (200, "upstream")
    head = by_operation["HeadObject"]
    assert (head["status"], head["answered_from"]) == (404, "index")
    assert by_operation["admin:sync"]["status"] == 200
    assert all("X-Amz-Signature" not in line["path"] for line in access)


def test_stats_command_prints_a_table_and_json(
    served: tuple[str, Path, Path], s3_upstream: MotoUpstream
) -> None:
    url, config, _ = served
    client(s3_upstream.url).create_bucket(Bucket=BUCKET)
    assert s3_request("POST", url, "/_mimicdb/sync").status_code == 200
    for _ in range(3):
        client(url).list_objects_v2(Bucket=BUCKET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIMICDB_")}
    # no --url: the address comes from the same config file the server read
    table = subprocess.run(
        [MIMICDB_PROXY, "stats", "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0, table.stderr
    assert "upstream requests avoided: 3" in table.stdout
    rows = [line.split() for line in table.stdout.splitlines()]
    assert ["ListObjectsV2", "index", "3"] in rows
    assert any(row[:2] == [BUCKET, "0"] for row in rows)
    raw = subprocess.run(
        [MIMICDB_PROXY, "stats", "--url", url, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert raw.returncode == 0, raw.stderr
    stats = json.loads(raw.stdout)
    assert stats["avoided"]["requests"] == 3
    assert stats["avoided"]["dollars"] == pytest.approx(3 * 0.005 / 1000)


def test_text_lines_from_an_embedded_proxy(
    make_proxy: Callable[..., EmbeddedProxy], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    proxy = make_proxy("memory")
    client(proxy.url).list_buckets()
    messages = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(messages) == 1
    assert messages[0].startswith("GET / ListBuckets bucket=- status=200 from=index ")
    assert messages[0].endswith("ms")


def test_no_lines_when_the_access_logger_is_off(
    make_proxy: Callable[..., EmbeddedProxy], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=ACCESS_LOGGER)
    proxy = make_proxy("memory")
    client(proxy.url).list_buckets()
    assert not [r for r in caplog.records if r.name == ACCESS_LOGGER]
