"""`mimicdb-proxy`: serve the proxy, or sync buckets into its index."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from aiohttp import web

from . import __version__
from .app import create_app
from .backends import backend_from_url
from .backends.base import Backend
from .config import DEFAULT_BACKEND, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_UPSTREAM, Config
from .errors import S3Error
from .sync import sync_buckets
from .upstream import Upstream

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The command line, with `serve` and `sync`."""
    parser = argparse.ArgumentParser(
        prog="mimicdb-proxy",
        description="An S3-compatible caching reverse proxy: listings, HEADs from a local index.",
    )
    parser.add_argument("--version", action="version", version=f"mimicdb-proxy {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--upstream",
            help=f"the real S3 endpoint URL (MIMICDB_UPSTREAM; default {DEFAULT_UPSTREAM})",
        )
        sub.add_argument(
            "--region", help="the upstream region for signing (MIMICDB_REGION; default us-east-1)"
        )
        sub.add_argument(
            "--backend",
            help="the index: sqlite:///PATH, memory:// or redis://HOST:PORT/DB "
            f"(MIMICDB_BACKEND; default {DEFAULT_BACKEND}, a file in the working directory)",
        )
        sub.add_argument(
            "--upstream-timeout",
            type=float,
            help="seconds to wait for the upstream before answering 503 (default 30)",
        )

    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument(
        "--listen",
        help=f"HOST:PORT to listen on (MIMICDB_LISTEN; default {DEFAULT_HOST}:{DEFAULT_PORT}); "
        "only loopback addresses until client authentication exists",
    )
    serve.add_argument(
        "--domain",
        help="the proxy's domain for virtual-host addressing, bucket.DOMAIN (MIMICDB_DOMAIN)",
    )
    common(serve)
    sync = commands.add_parser("sync", help="walk buckets upstream and replace their index entries")
    sync.add_argument("buckets", nargs="*", metavar="BUCKET", help="buckets to sync (default all)")
    sync.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    common(sync)
    return parser


def _config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    overrides: dict[str, object] = {
        "upstream": args.upstream,
        "region": args.region,
        "backend": args.backend,
        "upstream_timeout": args.upstream_timeout,
    }
    if getattr(args, "domain", None):
        overrides["domain"] = args.domain
    if getattr(args, "listen", None):
        from .config import parse_listen

        host, port = parse_listen(args.listen)
        overrides.update(host=host, port=port)
    return Config.from_env(env, **overrides)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: Config) -> int:
    """Run until interrupted."""
    if not _is_loopback(config.host):
        print(
            f"mimicdb-proxy: refusing to listen on {config.host}: client authentication is not "
            "available yet, so only loopback addresses are allowed",
            file=sys.stderr,
        )
        return 2
    try:
        backend_from_url(config.backend)
    except ValueError as exc:
        print(f"mimicdb-proxy: {exc}", file=sys.stderr)
        return 2
    app = create_app(config)
    print(
        f"mimicdb-proxy {__version__} on http://{config.host}:{config.port} "
        f"(upstream {config.upstream}, index {config.backend})",
        file=sys.stderr,
    )
    try:
        web.run_app(app, host=config.host, port=config.port, print=None)
    except OSError as exc:
        print(
            f"mimicdb-proxy: cannot listen on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0


async def _sync(config: Config, buckets: Sequence[str], as_json: bool) -> int:
    backend: Backend = backend_from_url(config.backend)
    upstream = Upstream(config)
    await backend.open()
    await upstream.open()
    try:
        reports = await sync_buckets(backend, upstream, buckets)
    except S3Error as exc:
        print(f"mimicdb-proxy sync: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await upstream.close()
        await backend.close()
    if as_json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "buckets": [
                        {"bucket": r.bucket, "keys": r.keys, "seconds": round(r.seconds, 3)}
                        for r in reports
                    ],
                }
            )
        )
    else:
        for report in reports:
            print(f"{report.bucket}: {report.keys} keys in {report.seconds:.1f}s")
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    config = _config(args, os.environ if env is None else env)
    if args.command == "serve":
        return serve(config)
    return asyncio.run(_sync(config, args.buckets, args.json))


if __name__ == "__main__":
    raise SystemExit(main())
