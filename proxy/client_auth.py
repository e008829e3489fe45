"""The client-authentication middleware: every request is verified before it is dispatched.

Answers from the index and the admin API included, a request must carry a valid
Signature V4 or V2 from a key pair the proxy knows, and that pair must be allowed
what the request does; otherwise S3's own error answers and nothing is forwarded.
What the body must still satisfy is left on the request for the forward path.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .access import AccessKey, Operation, authorize, build_keyring, classify, read_credentials_file
from .auth import SignedRequest, host_bucket, verify
from .config import Config
from .payload import PAYLOAD
from .routing import ADMIN_PREFIX, parse_s3_request

__all__ = ["CLIENT_KEY", "client_auth", "keyring_for", "operation_of", "signed_request"]

CLIENT_KEY = web.RequestKey("mimicdb.client_key", AccessKey)


def keyring_for(config: Config) -> dict[str, AccessKey]:
    """The pairs clients may sign with: the upstream's, the configured ones, the file's."""
    upstream = None
    if config.credentials is not None:
        upstream = (config.credentials.access_key, config.credentials.secret_key)
    extra = list(config.client_keys)
    if config.credentials_file:
        extra.extend(read_credentials_file(config.credentials_file))
    return build_keyring(upstream, extra)


def signed_request(http: web.Request, domain: str | None) -> SignedRequest:
    """What the signature covers, taken from the request as it came over the wire."""
    path, _, raw_query = http.raw_path.partition("?")
    headers: dict[str, str] = {}
    for name in http.headers:
        lower = name.lower()
        if lower not in headers:
            # SigV4 signs a repeated header once, its values trimmed and joined by commas.
            headers[lower] = ",".join(value.strip() for value in http.headers.getall(name))
    return SignedRequest(
        method=http.method.upper(),
        path=path,
        raw_query=raw_query,
        headers=headers,
        host_bucket=host_bucket(http.headers.get("Host", ""), domain),
    )


def operation_of(http: web.Request, domain: str | None) -> Operation:
    """What a request touches, for `authorize`."""
    if http.path.startswith(ADMIN_PREFIX):
        return classify(http.method, None, admin=http.path[len(ADMIN_PREFIX) :].strip("/"))
    request = parse_s3_request(http, domain)
    return classify(request.method, request.bucket, http.headers.get("x-amz-copy-source"))


_PROBES = frozenset({ADMIN_PREFIX + "health", ADMIN_PREFIX + "metrics"})


def _is_probe(http: web.Request) -> bool:
    """A read of the health or metrics endpoint (answered unsigned with public_metrics)."""
    return http.method in ("GET", "HEAD") and http.path.rstrip("/") in _PROBES


def client_auth(config: Config) -> Middleware:
    """The middleware for `config`: the key pairs are read once, here (a bad file fails here)."""
    keys = {} if config.anonymous else keyring_for(config)

    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        http = request
        if config.anonymous or (config.public_metrics and _is_probe(http)):
            return await handler(http)
        signed = signed_request(http, config.domain)
        verified = verify(signed, keys, datetime.now(UTC), region=config.client_region)
        authorize(verified.key, operation_of(http, config.domain))
        http[CLIENT_KEY] = verified.key
        http[PAYLOAD] = verified.payload
        return await handler(http)

    return authenticate
