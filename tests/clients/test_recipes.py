"""The client recipes of docs/operations.md, run as written against a proxy holding `demo`.

Only the address changes: the recipes say 127.0.0.1:7480, the test proxy has a free port.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from proxy.embedded import EmbeddedProxy

from ..fixtures.proxy_server import client_for
from ..fixtures.s3_server import MotoUpstream
from .conftest import Stack, client_env

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
DOC_ADDRESS = "127.0.0.1:7480"
FENCE = re.compile(r"^```(sh|python)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def recipes() -> dict[str, list[tuple[str, str]]]:
    """(language, code) blocks of each `### client` under `## Client recipes`."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Client recipes\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, list[tuple[str, str]]] = {}
    for part in section.split("\n### ")[1:]:
        title, _, body = part.partition("\n")
        out[title.strip()] = [(m.group(1), m.group(2)) for m in FENCE.finditer(body)]
    return out


RECIPES = recipes()


@pytest.fixture
def demo(make_proxy: Callable[..., EmbeddedProxy], s3_upstream: MotoUpstream) -> Stack:
    """The state the demo leaves: bucket `demo` with docs/hello.txt, synced."""
    direct = client_for(s3_upstream.url)
    direct.create_bucket(Bucket="demo")
    direct.put_object(Bucket="demo", Key="docs/hello.txt", Body=b"hello\n")
    stack = Stack(make_proxy("sqlite"), s3_upstream, direct)
    stack.sync("demo")
    return stack


def test_every_client_has_a_runnable_recipe() -> None:
    assert set(RECIPES) == {
        "AWS CLI",
        "boto3",
        "s3fs / fsspec (and pandas, Dask, ...)",
        "MinIO Python SDK",
        "s3cmd",
        "rclone",
    }
    assert all(RECIPES.values())


@pytest.mark.parametrize("client", sorted(RECIPES))
def test_recipe_runs_as_written(client: str, demo: Stack, tmp_path: Path) -> None:
    address = urlsplit(demo.url).netloc
    env = client_env(tmp_path)
    for language, code in RECIPES[client]:
        assert DOC_ADDRESS in code
        code = code.replace(DOC_ADDRESS, address)
        command = (
            ["bash", "-euo", "pipefail", "-c", code]
            if language == "sh"
            else [
                sys.executable,
                "-c",
                code,
            ]
        )
        result = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, f"{client}:\n{code}\n{result.stderr}"
        # each recipe lists the bucket: what the demo put there shows in its output
        assert "docs/hello.txt" in result.stdout or "hello" in result.stdout
    # every recipe writes through the proxy and lists from its index
    counts = demo.proxy.context.requests
    assert counts[("PutObject", "upstream")] >= 1
    assert counts[("ListObjectsV2", "index")] + counts[("ListObjects", "index")] >= 1
