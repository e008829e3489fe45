"""Real clients sign their own requests through the proxy: boto3, the AWS CLI, boto 2, MinIO, s3cmd.

Each does its everyday work with the right key pair (so its signature form verifies:
SigV4 with a signed payload, aws-chunked with the checksum trailer over https, SigV2,
presigned URLs), and is refused with S3's error codes with a wrong one.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proxy.config import Config, Credentials
from proxy.embedded import EmbeddedProxy
from tests.fixtures.s3_server import MotoUpstream

KEY = SECRET = "testing"
B3 = "boto3-bucket"


def boto3_client(url: str, secret: str = SECRET, key: str = KEY, **config: Any) -> Any:
    """boto3 with its default settings (checksums on), as a user would make it."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=BotoConfig(retries={"max_attempts": 1}, **config),
        verify=False,
    )


def record_wire(client: Any) -> list[dict[str, str]]:
    """The headers of each request the client sends, as sent."""
    seen: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        headers = request.headers.items()
        seen.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers})

    client.meta.events.register("before-send.s3.*", record)
    return seen


def error_code(call: Callable[[], object]) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    return str(caught.value.response["Error"]["Code"])


def test_boto3_default_config(proxy: EmbeddedProxy) -> None:
    client = boto3_client(proxy.url)
    wire = record_wire(client)
    client.create_bucket(Bucket=B3)
    client.put_object(Bucket=B3, Key="dir/one", Body=b"one", Metadata={"k": "v"})
    assert wire[-1]["x-amz-content-sha256"] not in ("UNSIGNED-PAYLOAD",)
    client.upload_fileobj(io.BytesIO(b"two" * 1000), B3, "dir/two")
    client.copy_object(Bucket=B3, Key="three", CopySource={"Bucket": B3, "Key": "dir/one"})
    assert [o["Key"] for o in client.list_objects_v2(Bucket=B3)["Contents"]] == [
        "dir/one", "dir/two", "three",
    ]  # fmt: skip
    assert client.list_objects(Bucket=B3, Delimiter="/")["CommonPrefixes"] == [
        {"Prefix": "dir/"}
    ]
    assert client.head_object(Bucket=B3, Key="dir/one")["Metadata"] == {"k": "v"}
    assert client.get_object(Bucket=B3, Key="dir/two")["Body"].read() == b"two" * 1000
    upload = client.create_multipart_upload(Bucket=B3, Key="multi")["UploadId"]
    part = client.upload_part(Bucket=B3, Key="multi", UploadId=upload, PartNumber=1, Body=b"p")
    client.complete_multipart_upload(
        Bucket=B3, Key="multi", UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )  # fmt: skip
    client.delete_objects(Bucket=B3, Delete={"Objects": [{"Key": "three"}]})
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=B3)["Contents"]]
    assert keys == ["dir/one", "dir/two", "multi"]
    v2_url = client.generate_presigned_url("get_object", Params={"Bucket": B3, "Key": "multi"})
    assert requests.get(v2_url, timeout=10).content == b"p"
    v4 = boto3_client(proxy.url, signature_version="s3v4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": B3, "Key": "dir/one"})
    assert "X-Amz-Signature=" in url
    assert requests.get(url, timeout=10).content == b"one"
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": B3, "Key": "p"})
    assert requests.put(put_url, data=b"by url", timeout=10).status_code == 200
    assert client.get_object(Bucket=B3, Key="p")["Body"].read() == b"by url"


def test_boto3_wrong_keys_are_refused(proxy: EmbeddedProxy) -> None:
    boto3_client(proxy.url).create_bucket(Bucket=B3)
    wrong = boto3_client(proxy.url, secret="wrong")
    assert error_code(lambda: wrong.list_objects_v2(Bucket=B3)) == "SignatureDoesNotMatch"
    assert error_code(lambda: wrong.put_object(Bucket=B3, Key="k", Body=b"x")) == (
        "SignatureDoesNotMatch"
    )
    stranger = boto3_client(proxy.url, key="stranger")
    assert error_code(lambda: stranger.list_buckets()) == "InvalidAccessKeyId"
    assert "Contents" not in boto3_client(proxy.url).list_objects_v2(Bucket=B3)


@pytest.fixture
def tls_context(tmp_path: Path) -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context


@pytest.fixture
def tls_proxy(s3_upstream: MotoUpstream, tls_context: ssl.SSLContext) -> Iterator[EmbeddedProxy]:
    config = Config(
        host="127.0.0.1",
        port=0,
        upstream=s3_upstream.url,
        backend="memory://",
        credentials=Credentials(KEY, SECRET),
    )
    running = EmbeddedProxy(config, ssl_context=tls_context).start()
    yield running
    running.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_boto3_over_https_sends_unsigned_payload_trailer(tls_proxy: EmbeddedProxy) -> None:
    """Over TLS, boto3 streams uploads aws-chunked with a CRC32 trailer: decoded and checked."""
    client = boto3_client(tls_proxy.url)
    wire = record_wire(client)
    client.create_bucket(Bucket="tls")
    client.put_object(Bucket="tls", Key="streamed", Body=io.BytesIO(b"0123456789" * 5000))
    assert wire[-1]["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert wire[-1]["x-amz-trailer"] == "x-amz-checksum-crc32"
    body = client.get_object(Bucket="tls", Key="streamed")["Body"].read()
    assert body == b"0123456789" * 5000
    wrong = boto3_client(tls_proxy.url, secret="wrong")
    assert error_code(
        lambda: wrong.put_object(Bucket="tls", Key="bad", Body=io.BytesIO(b"x" * 100))
    ) == "SignatureDoesNotMatch"  # fmt: skip
    assert [o["Key"] for o in client.list_objects_v2(Bucket="tls")["Contents"]] == ["streamed"]


def aws(url: str, *args: str, secret: str = SECRET, stdin: bytes | None = None) -> Any:
    """The AWS CLI (v1, from the venv) against the proxy."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    command = [sys.executable, "-m", "awscli", "--endpoint-url", url, *args]
    return subprocess.run(command, env=env, capture_output=True, input=stdin, timeout=120)


def test_aws_cli(proxy: EmbeddedProxy, tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_bytes(b"cli data")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # over 8 MiB: a multipart upload
    assert aws(proxy.url, "s3", "mb", "s3://cli").returncode == 0
    assert aws(proxy.url, "s3", "cp", str(small), "s3://cli/small.txt").returncode == 0
    assert aws(proxy.url, "s3", "cp", str(big), "s3://cli/big.bin").returncode == 0
    listing = aws(proxy.url, "s3", "ls", "s3://cli/")
    assert b"small.txt" in listing.stdout and b"big.bin" in listing.stdout
    assert aws(proxy.url, "s3", "cp", "s3://cli/small.txt", "-").stdout == b"cli data"
    copy = tmp_path / "copy.bin"
    assert aws(proxy.url, "s3", "cp", "s3://cli/big.bin", str(copy)).returncode == 0
    assert copy.read_bytes() == big.read_bytes()
    presigned = aws(proxy.url, "s3", "presign", "s3://cli/small.txt").stdout.decode().strip()
    assert requests.get(presigned, timeout=10).content == b"cli data"
    refused = aws(proxy.url, "s3", "ls", "s3://cli/", secret="wrong")
    assert refused.returncode != 0
    assert b"SignatureDoesNotMatch" in refused.stderr


def test_boto2_signature_v2(proxy: EmbeddedProxy) -> None:
    """boto 2.49 (what the mimicdb package drives) signs with V2 by default."""
    import boto.exception
    import boto.s3.connection

    def connect(secret: str) -> Any:
        return boto.s3.connection.S3Connection(
            KEY, secret, host="127.0.0.1", port=proxy.port, is_secure=False,
            calling_format=boto.s3.connection.OrdinaryCallingFormat(),
        )  # fmt: skip

    connection = connect(SECRET)
    bucket = connection.create_bucket("boto2")
    key = bucket.new_key("dir/key with spaces+plus")
    key.set_contents_from_string("boto2 data", headers={"Content-Type": "text/plain"})
    assert [k.name for k in bucket.list()] == ["dir/key with spaces+plus"]
    assert bucket.get_key("dir/key with spaces+plus").get_contents_as_string() == b"boto2 data"
    assert [b.name for b in connection.get_all_buckets()] == ["boto2"]
    url = bucket.get_key("dir/key with spaces+plus").generate_url(60)
    assert requests.get(url, timeout=10).content == b"boto2 data"
    bucket.delete_key("dir/key with spaces+plus")
    assert list(bucket.list()) == []
    with pytest.raises(boto.exception.S3ResponseError) as caught:
        connect("wrong").get_bucket("boto2")
    assert caught.value.status == 403
    with pytest.raises(boto.exception.S3ResponseError) as caught:
        connect("wrong").create_bucket("boto2-other")
    assert (caught.value.status, caught.value.error_code) == (403, "SignatureDoesNotMatch")


def test_minio_sdk(proxy: EmbeddedProxy) -> None:
    from minio import Minio
    from minio.error import S3Error as MinioError

    def connect(secret: str) -> Minio:
        return Minio(f"127.0.0.1:{proxy.port}", access_key=KEY, secret_key=secret,
                     secure=False, region="us-east-1")  # fmt: skip

    client = connect(SECRET)
    client.make_bucket("minio")
    client.put_object("minio", "obj", io.BytesIO(b"minio data"), length=10)
    client.put_object("minio", "streamed", io.BytesIO(b"s" * 6_000_000), length=-1,
                      part_size=5 * 1024 * 1024)  # fmt: skip
    assert [o.object_name for o in client.list_objects("minio")] == ["obj", "streamed"]
    assert client.get_object("minio", "obj").read() == b"minio data"
    assert client.stat_object("minio", "streamed").size == 6_000_000
    url = client.presigned_get_object("minio", "obj", expires=dt.timedelta(minutes=5))
    assert requests.get(url, timeout=10).content == b"minio data"
    with pytest.raises(MinioError) as caught:
        connect("wrong").put_object("minio", "bad", io.BytesIO(b"x"), length=1)
    assert caught.value.code == "SignatureDoesNotMatch"
    assert [o.object_name for o in client.list_objects("minio")] == ["obj", "streamed"]


def s3cmd(proxy: EmbeddedProxy, tmp_path: Path, *args: str, secret: str = SECRET,
          v2: bool = False) -> Any:  # fmt: skip
    config = tmp_path / ("s3cfg-v2" if v2 else "s3cfg")
    config.write_text(
        "[default]\n"
        f"access_key = {KEY}\nsecret_key = {secret}\n"
        f"host_base = 127.0.0.1:{proxy.port}\nhost_bucket = 127.0.0.1:{proxy.port}\n"
        "use_https = False\nbucket_location = us-east-1\n"
        f"signature_v2 = {'True' if v2 else 'False'}\n"
    )
    binary = Path(sys.executable).parent / "s3cmd"
    command = [sys.executable, str(binary), "-c", str(config), *args]
    return subprocess.run(command, capture_output=True, timeout=120)


@pytest.mark.parametrize("v2", [False, True], ids=["sigv4", "sigv2"])
def test_s3cmd(proxy: EmbeddedProxy, tmp_path: Path, v2: bool) -> None:
    source = tmp_path / "file.txt"
    source.write_bytes(b"s3cmd data")
    bucket = "s3cmd-v2" if v2 else "s3cmd-v4"
    assert s3cmd(proxy, tmp_path, "mb", f"s3://{bucket}", v2=v2).returncode == 0
    assert s3cmd(proxy, tmp_path, "put", str(source), f"s3://{bucket}/f.txt", v2=v2).returncode == 0
    listing = s3cmd(proxy, tmp_path, "ls", f"s3://{bucket}/", v2=v2)
    assert b"f.txt" in listing.stdout
    target = tmp_path / "back.txt"
    got = s3cmd(proxy, tmp_path, "get", f"s3://{bucket}/f.txt", str(target), v2=v2)
    assert got.returncode == 0 and target.read_bytes() == b"s3cmd data"
    refused = s3cmd(proxy, tmp_path, "ls", f"s3://{bucket}/", secret="wrong", v2=v2)
    assert refused.returncode != 0
    assert b"SignatureDoesNotMatch" in refused.stdout + refused.stderr
