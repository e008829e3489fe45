"""The sync benchmark's upstream: moto holding one big bucket, in its own process.

    python -m bench.listing_upstream --keys 100000 --latency 0.02

prints one JSON line, {"plain": URL, "slow": URL}, once the bucket is filled, and serves
until its standard input closes. Both URLs reach the same moto; "slow" adds `latency`
seconds before answering each request (a delaying front, as a far-away S3 would be).

moto's own ListObjectsV2 sorts and serializes the whole bucket in Python on every page
(about 0.6 s per page at 100,000 keys), which would make the emulator's CPU, not the
network, the whole cost of a walk. So plain listings of the bench bucket (no prefix, no
delimiter) are answered here from a snapshot of moto's own keys, each rendered once,
the way S3 answers a page in constant time; everything else (ListBuckets,
GetBucketLocation, HEAD, ...) goes to moto. Both walkers measured get the same answers.
"""

from __future__ import annotations

import argparse
import base64
import bisect
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

BUCKET = "bench"
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
# The owner moto names in listings with fetch-owner=true.
OWNER = (
    "<Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>"
    "<DisplayName>webfile</DisplayName></Owner>"
)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def key_name(shape: str, number: int) -> str:
    """The bench's keys: `flat` (k0000042) or `paths` (logs/42/00000042.json.gz)."""
    if shape == "flat":
        return f"k{number:07d}"
    return f"logs/{number % 97:02d}/{number:08d}.json.gz"


def fill(keys: int, shape: str) -> None:
    """Create the bucket and its keys straight in moto's memory (seconds, not minutes)."""
    moto = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    moto.create_bucket(BUCKET, "us-east-1")
    for number in range(keys):
        moto.put_object(BUCKET, key_name(shape, number), b"x" * (number % 100))


class Snapshot:
    """Every key of the bench bucket, sorted, each `<Contents>` element rendered once."""

    def __init__(self) -> None:
        bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(BUCKET)
        self.names = sorted(bucket.keys.keys())
        self._plain: list[str] = []
        self._url: list[str] = []
        for name in self.names:
            key = bucket.keys[name]
            rest = (
                f"<LastModified>{key.last_modified_ISO8601}</LastModified>"
                f"<ETag>{escape(key.etag)}</ETag><Size>{key.size}</Size>"
                "<StorageClass>STANDARD</StorageClass>"
            )
            self._plain.append(f"<Contents><Key>{escape(name)}</Key>{rest}")
            self._url.append(f"<Contents><Key>{quote(name)}</Key>{rest}")

    def page(self, query: dict[str, list[str]]) -> bytes:
        """One ListObjectsV2 page, with start-after or continuation-token."""
        max_keys = int(query.get("max-keys", ["1000"])[0])
        token = query.get("continuation-token", [None])[0]
        after = query.get("start-after", [None])[0]
        url = query.get("encoding-type", [""])[0] == "url"
        owner = query.get("fetch-owner", ["false"])[0] == "true"
        position = base64.urlsafe_b64decode(token).decode() if token else after
        start = bisect.bisect_right(self.names, position) if position else 0
        end = min(start + max_keys, len(self.names))
        truncated = end < len(self.names)
        rendered = self._url if url else self._plain
        suffix = (OWNER if owner else "") + "</Contents>"
        parts = [
            f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NAMESPACE}">',
            f"<Name>{BUCKET}</Name><Prefix></Prefix><MaxKeys>{max_keys}</MaxKeys>",
            f"<KeyCount>{end - start}</KeyCount>",
            f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
        ]
        if url:
            parts.append("<EncodingType>url</EncodingType>")
        if after:
            parts.append(f"<StartAfter>{escape(quote(after) if url else after)}</StartAfter>")
        if token:
            parts.append(f"<ContinuationToken>{escape(token)}</ContinuationToken>")
        if truncated:
            following = base64.urlsafe_b64encode(self.names[end - 1].encode()).decode()
            parts.append(f"<NextContinuationToken>{following}</NextContinuationToken>")
        parts.extend(item + suffix for item in rendered[start:end])
        parts.append("</ListBucketResult>")
        return "".join(parts).encode("utf-8")


def front(moto: WSGIApp, snapshot: Snapshot, latency: float) -> WSGIApp:
    """Answer plain listings of the bench bucket from the snapshot; the rest from moto."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if latency:
            time.sleep(latency)  # the server is threaded: requests wait side by side
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        plain_listing = (
            environ["REQUEST_METHOD"] == "GET"
            and environ.get("PATH_INFO", "").strip("/") == BUCKET
            and query.get("list-type") == ["2"]
            and not query.get("prefix", [""])[0]
            and "delimiter" not in query
        )
        if not plain_listing:
            return moto(environ, start_response)
        body = snapshot.page(query)
        start_response(
            "200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--shape", choices=("flat", "paths"), default="paths")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added by 'slow'")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    fill(args.keys, args.shape)
    snapshot = Snapshot()
    moto = DomainDispatcherApplication(create_backend_app)
    urls = {}
    for name, latency in (("plain", 0.0), ("slow", args.latency)):
        server = make_server("127.0.0.1", 0, front(moto, snapshot, latency), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        urls[name] = f"http://127.0.0.1:{server.server_port}"
    print(json.dumps(urls), flush=True)
    sys.stdin.read()  # until the benchmark closes our standard input


if __name__ == "__main__":
    main()
