"""The container's HEALTHCHECK: `python -m proxy.healthcheck` exits 0 when the proxy is ready.

It asks the local proxy's `/_mimicdb/health` (ready: the index answers), signed with
the same `MIMICDB_*`/`AWS_*` key pair the proxy reads, because the admin endpoints
check signatures like any S3 request. No curl in the slim image, and none needed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from .admin_client import fetch_admin, proxy_url
from .config import Config
from .startup import StartupError, layered_env

__all__ = ["check", "main"]


def check(env: Mapping[str, str]) -> tuple[bool, str]:
    """(ready, one line saying why) for the proxy the environment describes."""
    try:
        config = Config.from_env(layered_env(env, None))
        url = proxy_url(config)
        status, body = fetch_admin(url, config, "health")
    except (StartupError, ValueError) as exc:
        return False, str(exc)
    text = body.decode("utf-8", "replace").strip()
    return status == 200, f"{url}: {status} {text}"


def main() -> int:
    """Print one line; exit 0 when ready, 1 otherwise (what HEALTHCHECK expects)."""
    ready, line = check(os.environ)
    print(line, file=sys.stdout if ready else sys.stderr)
    return 0 if ready else 1


if __name__ == "__main__":
    raise SystemExit(main())
