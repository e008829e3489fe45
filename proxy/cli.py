"""`mimicdb-proxy`: serve the proxy, sync or verify buckets of its index, or show its stats."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence

from aiohttp import web

from . import __version__
from .access_log import LOG_FORMATS, configure_logging
from .admin_client import fetch_stats, format_stats, proxy_url
from .app import create_app
from .client_auth import keyring_for
from .config import (
    DEFAULT_BACKEND,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_UPSTREAM,
    Config,
    parse_duration,
)
from .index_commands import run_sync, run_verify
from .keeper import UNSYNCED_MODES
from .server import make_runner
from .startup import StartupError, layered_env, preflight

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
        sub.add_argument(
            "--upstream-anonymous",
            action="store_true",
            default=None,
            help="send upstream requests unsigned, for public buckets; without it, missing "
            "upstream credentials stop the start (MIMICDB_UPSTREAM_ANONYMOUS=1)",
        )
        config_flags(sub)
        sub.add_argument(
            "--sync-workers",
            type=int,
            metavar="N",
            help="concurrent ListObjectsV2 readers per bucket sync or verify "
            "(MIMICDB_SYNC_WORKERS; default 8; 1 walks sequentially)",
        )
        sub.add_argument(
            "--sync-lease",
            type=parse_duration,
            metavar="DURATION",
            help="how long a sync whose process died holds its bucket's sync session, "
            "e.g. 60s (MIMICDB_SYNC_LEASE; default 60s)",
        )

    serve = commands.add_parser("serve", help="run the proxy")
    serve.add_argument(
        "--listen",
        help=f"HOST:PORT to listen on (MIMICDB_LISTEN; default {DEFAULT_HOST}:{DEFAULT_PORT}); "
        "any address, but only loopback ones with --anonymous",
    )
    serve.add_argument(
        "--anonymous",
        action="store_true",
        default=None,
        help="answer clients without checking their signatures (MIMICDB_ANONYMOUS=1); "
        "loopback addresses only",
    )
    serve.add_argument(
        "--public-metrics",
        action="store_true",
        default=None,
        help="answer GET /_mimicdb/health and /_mimicdb/metrics without a signature, for "
        "probes and Prometheus scrapes; they show bucket names and sizes "
        "(MIMICDB_PUBLIC_METRICS=1)",
    )
    serve.add_argument(
        "--credentials-file",
        metavar="PATH",
        help="more key pairs clients may sign with, one INI section each as in "
        "~/.aws/credentials, optionally with `buckets = a,b` and `read_only = true` "
        "(MIMICDB_CREDENTIALS_FILE); the upstream pair is always accepted",
    )
    serve.add_argument(
        "--client-region",
        metavar="REGION",
        help="the only region clients' Signature V4 credential scopes may name; others are "
        "refused with S3's AuthorizationHeaderMalformed (MIMICDB_CLIENT_REGION; default any "
        "region). Off by default: the proxy re-signs every request for the upstream itself, "
        "and botocore answers that error by going to AWS's regional endpoint, past the proxy",
    )
    serve.add_argument(
        "--domain",
        help="the proxy's domain for virtual-host addressing, bucket.DOMAIN (MIMICDB_DOMAIN)",
    )
    common(serve)
    serve.add_argument(
        "--list-price",
        type=float,
        metavar="DOLLARS",
        help="dollars per 1,000 LIST-class requests, to price avoided requests "
        "(MIMICDB_LIST_PRICE; default 0.005, S3 Standard)",
    )
    serve.add_argument(
        "--get-price",
        type=float,
        metavar="DOLLARS",
        help="dollars per 1,000 GET/HEAD-class requests (MIMICDB_GET_PRICE; default 0.0004)",
    )
    serve.add_argument(
        "--resync-every",
        type=parse_duration,
        metavar="DURATION",
        help="re-sync every bucket of the index in the background this often, "
        "e.g. 15m, 6h, 1d (MIMICDB_RESYNC_EVERY; default never)",
    )
    serve.add_argument(
        "--unsynced",
        choices=UNSYNCED_MODES,
        help="reads of a bucket never synced: strict answers from the index (it does not "
        "exist), passthrough forwards them and records what they see, sync also starts a "
        "background sync on first use (MIMICDB_UNSYNCED; default strict)",
    )
    serve.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where the repair journal (buckets whose index missed a write) is kept "
        "(MIMICDB_STATE_DIR; default beside a SQLite index, else the working directory)",
    )
    sync = commands.add_parser("sync", help="walk buckets upstream and replace their index entries")
    sync.add_argument("buckets", nargs="*", metavar="BUCKET", help="buckets to sync (default all)")
    sync.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    common(sync)
    verify = commands.add_parser(
        "verify",
        help="compare the index with the upstream without changing it; exit 1 if they differ",
    )
    verify.add_argument(
        "buckets", nargs="*", metavar="BUCKET", help="buckets to verify (default all indexed)"
    )
    verify.add_argument(
        "--repair", action="store_true", help="apply the differences found (and only those)"
    )
    verify.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    common(verify)
    stats = commands.add_parser("stats", help="print a running proxy's counters and savings")
    stats.add_argument(
        "--url",
        help="the running proxy's URL (default: http://HOST:PORT of --listen/MIMICDB_LISTEN)",
    )
    stats.add_argument("--json", action="store_true", help="print the raw JSON document")
    stats.add_argument("--listen", help="HOST:PORT the proxy listens on, when --url is not given")
    stats.add_argument(
        "--client-region",
        metavar="REGION",
        help="the region to sign for, when the proxy was started with --client-region "
        "(MIMICDB_CLIENT_REGION; default --region's)",
    )
    config_flags(stats)
    return parser


def config_flags(sub: argparse.ArgumentParser) -> None:
    """The flags every command takes: where settings come from and how logs look."""
    sub.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file of settings named like the flags (listen, upstream, backend, ...); "
        "flags win over MIMICDB_* variables, which win over the file (MIMICDB_CONFIG)",
    )
    sub.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines as text or JSON objects; serve logs one line per request "
        "(MIMICDB_LOG_FORMAT; default text)",
    )


def _config(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    overrides: dict[str, object] = {
        name: getattr(args, name, None)
        for name in (
            "upstream",
            "region",
            "backend",
            "upstream_timeout",
            "upstream_anonymous",
            "anonymous",
            "public_metrics",
            "credentials_file",
            "client_region",
            "log_format",
            "list_price",
            "get_price",
            "sync_workers",
            "sync_lease",
            "resync_every",
            "unsynced",
            "state_dir",
        )
    }
    if getattr(args, "domain", None):
        overrides["domain"] = args.domain
    if getattr(args, "listen", None):
        from .config import parse_listen

        host, port = parse_listen(args.listen)
        overrides.update(host=host, port=port)
    return Config.from_env(layered_env(env, getattr(args, "config", None)), **overrides)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(config: Config) -> int:
    """Run until interrupted."""
    if config.anonymous and not _is_loopback(config.host):
        print(
            f"mimicdb-proxy: refusing to listen on {config.host} with --anonymous: anyone who "
            "can reach it could read and write through it; use a loopback address",
            file=sys.stderr,
        )
        return 2
    if not config.anonymous:
        try:
            keys = keyring_for(config)
        except ValueError as exc:
            print(f"mimicdb-proxy: {exc}", file=sys.stderr)
            return 2
        if not keys:
            print(
                "mimicdb-proxy: no key pair for clients to sign with: give upstream "
                "credentials, --credentials-file or MIMICDB_CLIENT_ACCESS_KEY_ID, "
                "or --anonymous",
                file=sys.stderr,
            )
            return 2
    try:
        preflight(config, listen=True)
    except StartupError as exc:
        print(f"mimicdb-proxy: {exc}", file=sys.stderr)
        return 2
    app = create_app(config)
    # a log record, not a print: with --log-format json every stderr line is JSON
    logging.getLogger("mimicdb.serve").info(
        "mimicdb-proxy %s on http://%s:%s (upstream %s, index %s)",
        __version__, config.host, config.port, config.upstream, config.backend,
    )  # fmt: skip
    try:
        asyncio.run(_serve_until_stopped(app, config.host, config.port))
    except OSError as exc:
        print(
            f"mimicdb-proxy: cannot listen on {config.host}:{config.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        pass
    return 0


# Idle keep-alive connections close after this long, as under web.run_app before.
_KEEPALIVE_TIMEOUT = 75.0


async def _serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    """Serve `app` on host:port until SIGINT or SIGTERM, then shut it down cleanly."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    runner = make_runner(app, keepalive_timeout=_KEEPALIVE_TIMEOUT)
    try:
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        await runner.cleanup()
        for signum in signals:
            loop.remove_signal_handler(signum)


def _stats(args: argparse.Namespace, config: Config) -> int:
    """Print a running proxy's /_mimicdb/stats as a table, or as JSON."""
    stats = fetch_stats(args.url or proxy_url(config), config)
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        config = _config(args, os.environ if env is None else env)
        configure_logging(config.log_format, access=args.command == "serve")
        if args.command == "stats":
            return _stats(args, config)
        if args.command != "serve":
            preflight(config, listen=False)
    except (StartupError, ValueError) as exc:
        print(f"mimicdb-proxy {args.command}: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(config)
    if args.command == "verify":
        return asyncio.run(run_verify(config, args.buckets, args.repair, args.json))
    return asyncio.run(run_sync(config, args.buckets, args.json))


if __name__ == "__main__":
    raise SystemExit(main())
