"""`--client-region`: when set, a Signature V4 must name that region; unset, any region goes.

S3 refuses a credential scope of another region with a 400 that names the right one
in a `<Region>` field: AuthorizationHeaderMalformed for the Authorization header,
AuthorizationQueryParametersError for a presigned URL. The check is opt-in (see the
README): the proxy re-signs every request for its upstream, and botocore answers that
error by redirecting to AWS's own regional endpoint, past the proxy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from lxml import etree

from proxy.admin_client import fetch_admin
from proxy.embedded import EmbeddedProxy
from tests.signing import (
    Answer,
    chunked_body,
    presign_v4,
    seed_signature,
    send,
    sign_v2,
    sign_v4,
)

from .test_startup import clean_env, resolve, write_config

BUCKET = "regional"
REGION = "eu-west-1"



@pytest.fixture
def strict(make_proxy: Callable[..., EmbeddedProxy], moto: Any) -> EmbeddedProxy:
    """A proxy accepting only REGION; BUCKET is in its index."""
    running = make_proxy("memory", client_region=REGION)
    assert send(running.url, sign_v4("PUT", f"{running.url}/{BUCKET}", region=REGION)).status == 200
    return running


def fields(answer: Answer) -> dict[str, str]:
    """The `<Error>` document's children, by tag."""
    root = etree.fromstring(answer.body)
    assert root.tag == "Error" and b"Traceback" not in answer.body
    return {child.tag: child.text or "" for child in root}


def test_header_signature_of_another_region_is_malformed(strict: EmbeddedProxy, moto: Any) -> None:
    wire = sign_v4("PUT", f"{strict.url}/{BUCKET}/k", body=b"v", region="us-east-1")
    answer = send(strict.url, wire)
    assert answer.status == 400
    error = fields(answer)
    assert error["Code"] == "AuthorizationHeaderMalformed"
    assert error["Message"] == (
        "The authorization header is malformed; the region 'us-east-1' is wrong; "
        "expecting 'eu-west-1'"
    )
    assert error["Region"] == REGION
    assert moto.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []


def test_presigned_url_of_another_region_is_a_query_error(strict: EmbeddedProxy) -> None:
    answer = send(strict.url, presign_v4("GET", f"{strict.url}/{BUCKET}", region="us-west-2"))
    assert answer.status == 400
    error = fields(answer)
    assert error["Code"] == "AuthorizationQueryParametersError"
    assert error["Message"] == (
        "Error parsing the X-Amz-Credential parameter; the region 'us-west-2' is wrong; "
        "expecting 'eu-west-1'"
    )
    assert error["Region"] == REGION


def test_the_region_is_checked_before_the_key(strict: EmbeddedProxy) -> None:
    """The region is checked first: an unknown key in the wrong region hears of the region."""
    wire = sign_v4("GET", f"{strict.url}/{BUCKET}", key="nobody", region="us-east-1")
    assert fields(send(strict.url, wire))["Code"] == "AuthorizationHeaderMalformed"


def test_the_right_region_is_accepted(strict: EmbeddedProxy, moto: Any) -> None:
    put = sign_v4("PUT", f"{strict.url}/{BUCKET}/k", body=b"header", region=REGION)
    assert send(strict.url, put).status == 200
    presigned = presign_v4("PUT", f"{strict.url}/{BUCKET}/p", region=REGION)
    assert send(strict.url, replace(presigned, body=b"presigned")).status == 200
    get = send(strict.url, presign_v4("GET", f"{strict.url}/{BUCKET}/p", region=REGION))
    assert (get.status, get.body) == (200, b"presigned")
    assert moto.get_object(Bucket=BUCKET, Key="k")["Body"].read() == b"header"


def test_chunk_signatures_follow_the_scope(strict: EmbeddedProxy, moto: Any) -> None:
    """An aws-chunked upload signed for REGION: its chunk chain is REGION's too."""
    data = b"c" * 1000
    headers = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "1000"}
    wire = sign_v4("PUT", f"{strict.url}/{BUCKET}/chunked", headers, region=REGION,
                   content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")  # fmt: skip
    amz_date = wire.header("X-Amz-Date")
    wrong = chunked_body([data], seed=seed_signature(wire), amz_date=amz_date)  # us-east-1
    answer = send(strict.url, replace(wire, body=wrong).with_header("Content-Length",
                                                                     str(len(wrong))))
    assert (answer.status, fields(answer)["Code"]) == (403, "SignatureDoesNotMatch")
    right = chunked_body([data], seed=seed_signature(wire), amz_date=amz_date, region=REGION)
    answer = send(strict.url, replace(wire, body=right).with_header("Content-Length",
                                                                     str(len(right))))
    assert answer.status == 200
    assert moto.get_object(Bucket=BUCKET, Key="chunked")["Body"].read() == data


def test_signature_v2_names_no_region_and_is_accepted(strict: EmbeddedProxy) -> None:
    assert send(strict.url, sign_v2("GET", f"{strict.url}/{BUCKET}")).status == 200


def test_boto3_in_the_right_region_works(strict: EmbeddedProxy, moto: Any) -> None:
    s3 = boto3.client(
        "s3", endpoint_url=strict.url, region_name=REGION, aws_access_key_id="testing",
        aws_secret_access_key="testing", config=BotoConfig(retries={"max_attempts": 1}),
    )  # fmt: skip
    s3.put_object(Bucket=BUCKET, Key="boto3", Body=b"b")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["boto3"]


def test_admin_client_signs_for_the_client_region(strict: EmbeddedProxy) -> None:
    """`mimicdb-proxy stats` and the container's health check sign as the proxy checks."""
    status, _ = fetch_admin(strict.url, strict.context.config, "health")
    assert status == 200


@pytest.mark.parametrize("region", ["us-east-1", "ap-south-1", "no-such-region"])
def test_unset_accepts_any_region(
    make_proxy: Callable[..., EmbeddedProxy], moto: Any, region: str
) -> None:
    proxy = make_proxy("memory")
    assert proxy.context.config.client_region is None
    assert send(proxy.url, sign_v4("PUT", f"{proxy.url}/{BUCKET}", region=region)).status == 200
    presigned = presign_v4("GET", f"{proxy.url}/{BUCKET}", region=region)
    assert send(proxy.url, presigned).status == 200


def test_the_setting_flows_from_flag_variable_and_file(tmp_path: Path) -> None:
    assert resolve(["serve"], clean_env(tmp_path)).client_region is None
    path = write_config(tmp_path / "m.toml", 'client-region = "eu-north-1"\n')
    assert resolve(["serve", "--config", path], clean_env(tmp_path)).client_region == "eu-north-1"
    path = write_config(tmp_path / "n.toml", 'client_region = "eu-north-1"\n')
    assert resolve(["serve", "--config", path], clean_env(tmp_path)).client_region == "eu-north-1"
    env = clean_env(tmp_path, MIMICDB_CLIENT_REGION="eu-west-3")
    assert resolve(["serve", "--config", path], env).client_region == "eu-west-3"
    flagged = resolve(["serve", "--client-region", "eu-south-1"], env)
    assert flagged.client_region == "eu-south-1"
    assert resolve(["stats", "--client-region", "eu-south-1"], env).client_region == "eu-south-1"
    empty = clean_env(tmp_path, MIMICDB_CLIENT_REGION="")
    assert resolve(["serve"], empty).client_region is None
