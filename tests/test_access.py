"""Key pairs limited to buckets or to reading: nothing outside, through the index or the upstream.

A credentials file gives the proxy three more pairs; each is tried on what it may do
(answered) and on what it may not (AccessDenied, and nothing changed upstream or in
the index). Then the pure pieces: the file format, the variables, the decision table.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from proxy.access import (
    AccessKey,
    Operation,
    authorize,
    build_keyring,
    classify,
    client_keys_from_env,
    copy_source_bucket,
    parse_credentials_file,
)
from proxy.cli import main
from proxy.config import Config
from proxy.embedded import EmbeddedProxy
from proxy.errors import AccessDenied
from tests.fixtures.s3_server import MotoUpstream
from tests.signing import send, sign_v4

CREDENTIALS = """
[reader]
aws_access_key_id = reader
aws_secret_access_key = reader-secret
read_only = true

[alpha]
aws_access_key_id = alpha
aws_secret_access_key = alpha-secret
buckets = alpha

[alpha-reader]
aws_access_key_id = alpha-reader
aws_secret_access_key = alpha-reader-secret
buckets = alpha
read_only = yes
"""


def client(url: str, key: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def denied(call: Callable[[], object]) -> None:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response["Error"]
    # HEAD answers carry no body: botocore names the error by its status
    assert error["Code"] in ("AccessDenied", "403"), error


@pytest.fixture
def limited(make_proxy: Callable[..., EmbeddedProxy], tmp_path: Path) -> EmbeddedProxy:
    """A proxy knowing the upstream pair and the file's; buckets alpha and beta, one key each."""
    path = tmp_path / "clients.ini"
    path.write_text(CREDENTIALS)
    running = make_proxy("sqlite", credentials_file=str(path))
    owner = client(running.url, "testing", "testing")
    for bucket in ("alpha", "beta"):
        owner.create_bucket(Bucket=bucket)
        owner.put_object(Bucket=bucket, Key="k", Body=bucket.encode())
    return running


@pytest.fixture
def moto(s3_upstream: MotoUpstream) -> Any:
    return client(s3_upstream.url, "testing", "testing")


def state(proxy: EmbeddedProxy, moto: Any) -> tuple[object, object]:
    """What the upstream and the index hold: buckets and their keys with ETags."""
    upstream = {}
    for bucket in moto.list_buckets()["Buckets"]:
        contents = moto.list_objects_v2(Bucket=bucket["Name"]).get("Contents", [])
        upstream[bucket["Name"]] = sorted((o["Key"], o["ETag"]) for o in contents)
    backend = proxy.context.backend
    index = {
        b.name: sorted((r.key, r.etag) for r in proxy.call(backend.scan(b.name, b"", None, 1000)))
        for b in proxy.call(backend.list_buckets())
    }
    return upstream, index


def test_bucket_limited_key_stays_in_its_bucket(limited: EmbeddedProxy, moto: Any) -> None:
    alpha = client(limited.url, "alpha", "alpha-secret")
    # its own bucket: index answers, upstream answers, writes
    assert [o["Key"] for o in alpha.list_objects_v2(Bucket="alpha")["Contents"]] == ["k"]
    assert alpha.head_object(Bucket="alpha", Key="k")["ContentLength"] == 5
    assert alpha.get_object(Bucket="alpha", Key="k")["Body"].read() == b"alpha"
    alpha.put_object(Bucket="alpha", Key="new", Body=b"n")
    before = state(limited, moto)
    # anything of beta, through the index or the upstream, and the list of all buckets
    for call in (
        lambda: alpha.list_objects_v2(Bucket="beta"),
        lambda: alpha.list_objects(Bucket="beta"),
        lambda: alpha.head_bucket(Bucket="beta"),
        lambda: alpha.head_object(Bucket="beta", Key="k"),
        lambda: alpha.get_bucket_location(Bucket="beta"),
        lambda: alpha.get_object(Bucket="beta", Key="k"),
        lambda: alpha.get_object_tagging(Bucket="beta", Key="k"),
        lambda: alpha.put_object(Bucket="beta", Key="planted", Body=b"x"),
        lambda: alpha.delete_object(Bucket="beta", Key="k"),
        lambda: alpha.delete_objects(Bucket="beta", Delete={"Objects": [{"Key": "k"}]}),
        lambda: alpha.copy_object(Bucket="alpha", Key="stolen",
                                  CopySource={"Bucket": "beta", "Key": "k"}),
        lambda: alpha.copy_object(Bucket="beta", Key="pushed",
                                  CopySource={"Bucket": "alpha", "Key": "k"}),
        lambda: alpha.create_multipart_upload(Bucket="beta", Key="m"),
        lambda: alpha.list_buckets(),
        lambda: alpha.create_bucket(Bucket="gamma"),
        lambda: alpha.delete_bucket(Bucket="beta"),
    ):  # fmt: skip
        denied(call)
    assert state(limited, moto) == before


def test_forced_reads_and_admin_need_the_right_key(limited: EmbeddedProxy) -> None:
    alpha = client(limited.url, "alpha", "alpha-secret")
    forced = alpha.list_objects_v2
    alpha.meta.events.register(
        "before-sign.s3.ListObjectsV2",
        lambda request, **_: request.headers.__setitem__("Cache-Control", "no-cache"),
    )
    denied(lambda: forced(Bucket="beta"))
    assert forced(Bucket="alpha")["KeyCount"] == 1
    url = limited.url

    def admin(method: str, name: str, key: str, secret: str) -> int:
        wire = sign_v4(method, f"{url}/_mimicdb/{name}", key=key, secret=secret)
        return send(url, wire).status

    assert admin("GET", "health", "alpha", "alpha-secret") == 200
    assert admin("GET", "stats", "alpha", "alpha-secret") == 403
    assert admin("POST", "sync", "alpha", "alpha-secret") == 403
    assert admin("GET", "stats", "reader", "reader-secret") == 200
    assert admin("POST", "sync", "reader", "reader-secret") == 403
    assert admin("GET", "stats", "testing", "testing") == 200


def test_read_only_key_reads_everything_and_writes_nothing(
    limited: EmbeddedProxy, moto: Any
) -> None:
    reader = client(limited.url, "reader", "reader-secret")
    assert {b["Name"] for b in reader.list_buckets()["Buckets"]} == {"alpha", "beta"}
    for bucket in ("alpha", "beta"):
        assert reader.get_object(Bucket=bucket, Key="k")["Body"].read() == bucket.encode()
        assert reader.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    before = state(limited, moto)
    for call in (
        lambda: reader.put_object(Bucket="alpha", Key="w", Body=b"x"),
        lambda: reader.delete_object(Bucket="alpha", Key="k"),
        lambda: reader.delete_objects(Bucket="beta", Delete={"Objects": [{"Key": "k"}]}),
        lambda: reader.copy_object(Bucket="alpha", Key="c",
                                   CopySource={"Bucket": "beta", "Key": "k"}),
        lambda: reader.create_multipart_upload(Bucket="alpha", Key="m"),
        lambda: reader.put_object_tagging(Bucket="alpha", Key="k",
                                          Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}),
        lambda: reader.create_bucket(Bucket="gamma"),
        lambda: reader.delete_bucket(Bucket="beta"),
    ):  # fmt: skip
        denied(call)
    assert state(limited, moto) == before


def test_read_only_bucket_key(limited: EmbeddedProxy, moto: Any) -> None:
    key = client(limited.url, "alpha-reader", "alpha-reader-secret")
    assert key.get_object(Bucket="alpha", Key="k")["Body"].read() == b"alpha"
    before = state(limited, moto)
    denied(lambda: key.put_object(Bucket="alpha", Key="w", Body=b"x"))
    denied(lambda: key.get_object(Bucket="beta", Key="k"))
    assert state(limited, moto) == before


def test_limits_hold_for_signature_v2(limited: EmbeddedProxy) -> None:
    import boto.exception
    import boto.s3.connection

    connection = boto.s3.connection.S3Connection(
        "alpha", "alpha-secret", host="127.0.0.1", port=limited.port, is_secure=False,
        calling_format=boto.s3.connection.OrdinaryCallingFormat(),
    )  # fmt: skip
    assert connection.get_bucket("alpha").get_key("k").get_contents_as_string() == b"alpha"
    with pytest.raises(boto.exception.S3ResponseError) as caught:
        connection.get_bucket("beta", validate=False).get_key("k")
    assert caught.value.status == 403


def test_anonymous_is_an_explicit_choice(make_proxy: Callable[..., EmbeddedProxy]) -> None:
    checked = make_proxy("memory")
    host = checked.url.removeprefix("http://")
    from tests.signing import Wire

    assert send(checked.url, Wire("GET", "/", {"Host": host})).status == 403
    anonymous = make_proxy("memory", anonymous=True)
    host = anonymous.url.removeprefix("http://")
    assert send(anonymous.url, Wire("GET", "/", {"Host": host})).status == 200


# The pure pieces


def test_credentials_file_format() -> None:
    keys = parse_credentials_file(CREDENTIALS)
    assert keys == (
        AccessKey("reader", "reader-secret", None, True),
        AccessKey("alpha", "alpha-secret", frozenset({"alpha"}), False),
        AccessKey("alpha-reader", "alpha-reader-secret", frozenset({"alpha"}), True),
    )
    assert parse_credentials_file("[a]\naws_access_key_id=k\naws_secret_access_key=s\n"
                                  "buckets = x, y ,\n") == (
        AccessKey("k", "s", frozenset({"x", "y"})),
    )  # fmt: skip
    for bad in ("[a]\naws_access_key_id=k\n", "[a]\naws_access_key_id=k\naws_secret_access_key=s\n"
                "read_only=maybe\n", "not an ini"):  # fmt: skip
        with pytest.raises(ValueError):
            parse_credentials_file(bad)


def test_client_key_variables_and_config() -> None:
    env = {
        "MIMICDB_CLIENT_ACCESS_KEY_ID": "ci",
        "MIMICDB_CLIENT_SECRET_ACCESS_KEY": "ci-secret",
        "MIMICDB_CLIENT_BUCKETS": "cache",
        "MIMICDB_CLIENT_READ_ONLY": "true",
        "MIMICDB_CREDENTIALS_FILE": "/etc/mimicdb/clients.ini",
        "MIMICDB_ANONYMOUS": "0",
        "HOME": "/nonexistent",
    }
    assert client_keys_from_env(env) == (AccessKey("ci", "ci-secret", frozenset({"cache"}), True),)
    config = Config.from_env(env)
    assert config.client_keys == client_keys_from_env(env)
    assert config.credentials_file == "/etc/mimicdb/clients.ini"
    assert config.anonymous is False
    assert Config.from_env({"MIMICDB_ANONYMOUS": "yes", "HOME": "/nonexistent"}).anonymous is True
    with pytest.raises(ValueError):
        client_keys_from_env({"MIMICDB_CLIENT_ACCESS_KEY_ID": "only-the-id"})


def test_keyring() -> None:
    ring = build_keyring(("up", "up-secret"), [AccessKey("other", "s")])
    assert ring == {"up": AccessKey("up", "up-secret"), "other": AccessKey("other", "s")}
    limited = AccessKey("up", "up-secret", read_only=True)
    assert build_keyring(("up", "up-secret"), [limited])["up"] == limited
    with pytest.raises(ValueError):
        build_keyring(("up", "up-secret"), [AccessKey("up", "another-secret")])


ALPHA = AccessKey("a", "s", frozenset({"alpha"}))
READER = AccessKey("r", "s", read_only=True)
FULL = AccessKey("f", "s")

DECISIONS = [
    (ALPHA, classify("GET", "alpha"), True),
    (ALPHA, classify("GET", "beta"), False),
    (ALPHA, classify("PUT", "alpha", "/alpha/k"), True),
    (ALPHA, classify("PUT", "alpha", "/beta/k?versionId=1"), False),
    (ALPHA, classify("PUT", "alpha", "beta%2Fk"), False),
    (ALPHA, classify("GET", None), False),
    (ALPHA, classify("GET", None, admin="health"), True),
    (ALPHA, classify("GET", None, admin="stats"), False),
    (READER, classify("GET", "beta"), True),
    (READER, classify("HEAD", "beta"), True),
    (READER, classify("POST", "beta"), False),
    (READER, classify("DELETE", "beta"), False),
    (READER, classify("GET", None), True),
    (READER, classify("POST", None, admin="sync"), False),
    (FULL, classify("POST", None, admin="sync"), True),
    (FULL, classify("DELETE", "anything"), True),
]


@pytest.mark.parametrize("key, operation, allowed", DECISIONS)
def test_decision_table(key: AccessKey, operation: Operation, allowed: bool) -> None:
    if allowed:
        authorize(key, operation)
    else:
        with pytest.raises(AccessDenied):
            authorize(key, operation)


def test_copy_source_bucket() -> None:
    assert copy_source_bucket("/src/dir/key%20x?versionId=3") == "src"
    assert copy_source_bucket("src/key") == "src"
    assert copy_source_bucket("src%2Fkey") == "src"


def test_serve_refuses_anonymous_beyond_loopback(tmp_path: Path, capsys: Any) -> None:
    env = {"HOME": str(tmp_path), "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    args = ["serve", "--anonymous", "--listen", "0.0.0.0:0", "--backend", "memory://"]
    assert main(args, env) == 2
    assert "--anonymous" in capsys.readouterr().err


def test_serve_refuses_without_any_client_key(tmp_path: Path, capsys: Any) -> None:
    env = {"HOME": str(tmp_path), "MIMICDB_UPSTREAM_ANONYMOUS": "1"}
    assert main(["serve", "--listen", "127.0.0.1:0", "--backend", "memory://"], env) == 2
    assert "no key pair for clients" in capsys.readouterr().err
    bad = tmp_path / "bad.ini"
    bad.write_text("[a]\naws_access_key_id = k\n")
    args = ["serve", "--credentials-file", str(bad), "--backend", "memory://"]
    assert main(args, env) == 2
    assert "aws_secret_access_key" in capsys.readouterr().err
