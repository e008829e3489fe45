"""`S3Connection`: boto 2's S3Connection, pointed at the MimicDB proxy.

The arguments keep boto's meaning: `host`, `port`, `is_secure` and `path` name the real
S3 (with no `host`: the URL in `MIMICDB_UPSTREAM`, else boto's `[s3] host` setting, else
AWS), and the credentials (given, or found by boto in the environment and its
config files) are the ones the proxy signs with upstream. boto itself then talks to the
proxy of the current `MimicDB`: plain HTTP on loopback, path-style, Signature V2 (boto's
V4 signer refuses hosts that are not AWS's). The proxy always addresses S3 path-style,
so `calling_format` is accepted and has no effect; boto's HTTP proxy settings apply to
no hop (the proxy's upstream session uses none).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import boto
from boto.provider import Provider
from boto.s3.bucket import Bucket as BotoBucket
from boto.s3.connection import NoHostProvided, OrdinaryCallingFormat
from boto.s3.connection import S3Connection as BotoS3Connection

from proxy.config import Credentials

from ..runtime import MimicDB, Target
from . import with_force
from .bucket import Bucket

__all__ = ["S3Connection", "region_of", "upstream_url"]

# s3.eu-west-1.amazonaws.com, s3-eu-west-1.amazonaws.com, s3.dualstack.eu-west-1....
_AWS_REGION_HOST = re.compile(
    r"(?:^|\.)s3[.-](?:dualstack\.)?([a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d)\.amazonaws\.com(?:\.cn)?$"
)


def upstream_url(
    host: str | None,
    port: int | None,
    is_secure: bool,
    path: str,
    env: Mapping[str, str],
    configured_host: str | None = None,
) -> str:
    """The upstream S3 a connection names, as a URL.

    `host` None means the caller gave none: then `MIMICDB_UPSTREAM` (a URL), else boto's
    `[s3] host` setting (`configured_host`, read by the caller), else AWS.
    """
    if host is None:
        configured = env.get("MIMICDB_UPSTREAM")
        if configured:
            return configured.rstrip("/")
        host = configured_host or BotoS3Connection.DefaultHost
    scheme = "https" if is_secure else "http"
    netloc = host if port is None else f"{host}:{port}"
    return f"{scheme}://{netloc}{path.rstrip('/')}"


def region_of(url: str, env: Mapping[str, str]) -> str:
    """The region to sign for: from an AWS regional host, else the environment, else us-east-1."""
    match = _AWS_REGION_HOST.search(urlsplit(url).hostname or "")
    if match:
        return match.group(1)
    return (
        env.get("MIMICDB_REGION")
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )


def _bucket_names(buckets: Iterable[Any]) -> list[str]:
    """Names from `sync('a', 'b')`, `sync(['a', 'b'])` (the seed's last form) or Buckets."""
    names: list[str] = []
    for item in buckets:
        if isinstance(item, str | BotoBucket):
            item = [item]
        names.extend(b.name if isinstance(b, BotoBucket) else str(b) for b in item)
    return names


class S3Connection(BotoS3Connection):
    """A connection to S3 whose reads come from the MimicDB index."""

    def __init__(
        self,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        is_secure: bool = True,
        port: int | None = None,
        proxy: str | None = None,
        proxy_port: int | None = None,
        proxy_user: str | None = None,
        proxy_pass: str | None = None,
        host: Any = NoHostProvided,
        debug: int = 0,
        https_connection_factory: Any = None,
        calling_format: Any = BotoS3Connection.DefaultCallingFormat,
        path: str = "/",
        provider: Any = "aws",
        bucket_class: Any = Bucket,
        security_token: str | None = None,
        suppress_consec_slashes: bool = True,
        anon: bool = False,
        validate_certs: bool | None = None,
        profile_name: str | None = None,
    ) -> None:
        self.upstream = upstream_url(
            None if host is NoHostProvided else host,
            port,
            is_secure,
            path,
            os.environ,
            configured_host=boto.config.get("s3", "host"),
        )
        # boto finds credentials as it always does (arguments, environment, config files).
        if not isinstance(provider, Provider):
            provider = Provider(
                provider, aws_access_key_id, aws_secret_access_key, security_token, profile_name
            )
        credentials = None
        if not anon and provider.access_key and provider.secret_key:
            credentials = Credentials(
                provider.access_key, provider.secret_key, provider.security_token or None
            )
        target = Target(self.upstream, region_of(self.upstream, os.environ), credentials)
        self.mimicdb = MimicDB.current()
        endpoint = urlsplit(self.mimicdb.endpoint(target))
        secure = endpoint.scheme == "https"
        super().__init__(
            aws_access_key_id,
            aws_secret_access_key,
            is_secure=secure,
            port=endpoint.port or (443 if secure else 80),
            host=endpoint.hostname,
            debug=debug,
            https_connection_factory=https_connection_factory if secure else None,
            calling_format=OrdinaryCallingFormat(),
            provider=provider,
            bucket_class=bucket_class,
            suppress_consec_slashes=suppress_consec_slashes,
            anon=anon,
            validate_certs=validate_certs,
        )
        # boto would route even loopback through an http_proxy from the environment.
        self.use_proxy = False

    def _required_auth_capability(self) -> list[str]:
        # Signature V2 toward the proxy, whatever S3_USE_SIGV4 says: V4 needs an AWS host.
        return ["anon"] if self.anon else ["s3"]

    def get_all_buckets(
        self, headers: Mapping[str, str] | None = None, force: bool = False
    ) -> list[Bucket]:
        """The buckets in the index (none before a sync); `force=True` asks S3 and records."""
        buckets: list[Bucket] = super().get_all_buckets(with_force(headers, force))
        return buckets

    def get_bucket(
        self,
        bucket_name: str,
        validate: bool = True,
        headers: Mapping[str, str] | None = None,
        force: bool | None = None,
    ) -> Bucket:
        """The bucket, if the index has it: else `S3ResponseError` (404) when `validate`.

        `validate=False` returns a Bucket without asking; `force=True` asks S3 and
        records the answer (a bucket S3 lacks leaves the index too).
        """
        if force:
            validate = True
        bucket: Bucket = super().get_bucket(bucket_name, validate, with_force(headers, force))
        return bucket

    def sync(self, *buckets: Any) -> None:
        """Replace the index's state of the named buckets (all, when none) with S3's.

        Syncing every bucket also forgets the buckets S3 no longer has. A bucket S3 does
        not have raises `S3ResponseError` (404, NoSuchBucket).
        """
        names = _bucket_names(buckets)
        query = urlencode([("bucket", name) for name in names]) or None
        response = self.make_request("POST", "_mimicdb", "sync", query_args=query)
        body = response.read()
        if response.status == 200:
            return
        error = self.provider.storage_response_error(response.status, response.reason, body)
        try:
            report = json.loads(body)
        except ValueError:
            raise error from None
        if isinstance(report, dict):
            error.error_code = report.get("error")
            error.error_message = report.get("message")
        raise error
