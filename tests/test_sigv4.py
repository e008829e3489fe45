"""Signature V4 against AWS's published values: the SigV4 test suite, S3's documented examples.

The step functions of proxy/sigv4.py and the verifier of proxy/auth.py are fed the
literal requests AWS publishes, and must produce (and accept) AWS's signatures; then
each example is changed in one thing and must be refused with S3's error code.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from proxy import sigv4
from proxy.access import AccessKey
from proxy.auth import SignedRequest, verify
from proxy.errors import S3Error
from tests import signing

# The SigV4 test suite (aws-sig-v4-test-suite): credentials, time and scope of every case.
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_DATE = "20150830T123600Z"
SUITE_BASE = {"host": "example.amazonaws.com", "x-amz-date": SUITE_DATE}

# (name, method, path, query pairs, extra headers, body, signature)
SUITE = [
    ("get-vanilla", "GET", "/", [], {}, b"",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-vanilla-query-order-key-case", "GET", "/", [("Param2", "value2"), ("Param1", "value1")],
     {}, b"", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-unreserved", "GET", "/",
     [("-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
       "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")],
     {}, b"", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "/", [("ሴ", "bar")], {}, b"",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-vanilla-empty-query-key", "GET", "/", [("Param1", "value1")], {}, b"",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
    ("get-utf8", "GET", "/ሴ", [], {}, b"",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     [], {}, b"", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-header-key-duplicate", "GET", "/", [], {"my-header1": "value2,value2,value1"}, b"",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-trim", "GET", "/", [],
     {"my-header1": "value1", "my-header2": '"a   b   c"'}, b"",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("post-vanilla", "POST", "/", [], {}, b"",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("post-vanilla-query", "POST", "/", [("Param1", "value1")], {}, b"",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-header-key-sort", "POST", "/", [], {"my-header1": "value1"}, b"",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    ("post-header-value-case", "POST", "/", [], {"my-header1": "VALUE1"}, b"",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-x-www-form-urlencoded", "POST", "/", [],
     {"content-type": "application/x-www-form-urlencoded"}, b"Param1=value1",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ("post-x-www-form-urlencoded-parameters", "POST", "/", [],
     {"content-type": "application/x-www-form-urlencoded; charset=utf8"}, b"Param1=value1",
     "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
]  # fmt: skip


@pytest.mark.parametrize(
    "method, path, query, extra, body, expected", [case[1:] for case in SUITE],
    ids=[case[0] for case in SUITE],
)  # fmt: skip
def test_aws_sigv4_test_suite(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    extra: dict[str, str],
    body: bytes,
    expected: str,
) -> None:
    headers = {**SUITE_BASE, **extra}
    signed = sorted(headers)
    canonical = sigv4.canonical_request(
        method, path, query, headers, signed, hashlib.sha256(body).hexdigest()
    )
    scope = sigv4.credential_scope(SUITE_DATE[:8], "us-east-1", "service")
    key = sigv4.signing_key(SUITE_SECRET, SUITE_DATE[:8], "us-east-1", "service")
    assert sigv4.signature(key, sigv4.string_to_sign(SUITE_DATE, scope, canonical)) == expected


def test_get_vanilla_canonical_request_and_string_to_sign() -> None:
    canonical = sigv4.canonical_request(
        "GET", "/", [], SUITE_BASE, ["host", "x-amz-date"], sigv4.EMPTY_SHA256
    )
    assert canonical == (
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    scope = sigv4.credential_scope("20150830", "us-east-1", "service")
    assert sigv4.string_to_sign(SUITE_DATE, scope, canonical) == (
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
        "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    )


# S3's documented examples ("Signature Calculations for the Authorization Header",
# "Authenticating Requests: Using Query Parameters", the chunked-upload examples).
S3_KEY = "AKIAIOSFODNN7EXAMPLE"
S3_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
S3_NOW = datetime(2013, 5, 24, 0, 0, 0, tzinfo=UTC)
KEYS = {S3_KEY: AccessKey(S3_KEY, S3_SECRET)}
HOST = "examplebucket.s3.amazonaws.com"
PUT_HASH = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"


def _authorization(signed: str, sig: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={S3_KEY}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={sig}"
    )


def _get_object() -> SignedRequest:
    return SignedRequest("GET", "/test.txt", "", {
        "host": HOST, "range": "bytes=0-9", "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
        "authorization": _authorization(
            "host;range;x-amz-content-sha256;x-amz-date",
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    })  # fmt: skip


def _put_object() -> SignedRequest:
    return SignedRequest("PUT", "/test%24file.text", "", {
        "host": HOST, "date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY", "x-amz-content-sha256": PUT_HASH,
        "authorization": _authorization(
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    })  # fmt: skip


def _get_lifecycle() -> SignedRequest:
    return SignedRequest("GET", "/", "lifecycle", {
        "host": HOST, "x-amz-date": "20130524T000000Z", "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        "authorization": _authorization(
            "host;x-amz-content-sha256;x-amz-date",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    })  # fmt: skip


def _list_objects() -> SignedRequest:
    return SignedRequest("GET", "/", "max-keys=2&prefix=J", {
        "host": HOST, "x-amz-date": "20130524T000000Z", "x-amz-content-sha256": sigv4.EMPTY_SHA256,
        "authorization": _authorization(
            "host;x-amz-content-sha256;x-amz-date",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    })  # fmt: skip


PRESIGNED_QUERY = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def _presigned() -> SignedRequest:
    return SignedRequest("GET", "/test.txt", PRESIGNED_QUERY, {"host": HOST})


STREAM_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"


def _streaming_put() -> SignedRequest:
    return SignedRequest("PUT", "/examplebucket/chunkObject.txt", "", {
        "host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked", "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
        "authorization": _authorization(
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class", STREAM_SEED),
    })  # fmt: skip


EXAMPLES = {
    "get-object": _get_object,
    "put-object": _put_object,
    "get-bucket-lifecycle": _get_lifecycle,
    "list-objects": _list_objects,
    "presigned-get": _presigned,
    "streaming-put": _streaming_put,
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_s3_documented_examples_verify(name: str) -> None:
    verified = verify(EXAMPLES[name](), KEYS, S3_NOW)
    assert verified.key.access_key == S3_KEY


def test_signed_payload_hash_becomes_the_body_rule() -> None:
    assert verify(_put_object(), KEYS, S3_NOW).payload.sha256 == PUT_HASH
    assert verify(_get_object(), KEYS, S3_NOW).payload.sha256 == sigv4.EMPTY_SHA256
    assert verify(_presigned(), KEYS, S3_NOW).payload.sha256 is None


def test_streaming_seed_and_chunk_chain_match_aws_example() -> None:
    rule = verify(_streaming_put(), KEYS, S3_NOW).payload
    assert rule.chunk_signatures and not rule.trailer_signature
    assert rule.seed == STREAM_SEED
    previous = rule.seed
    chain = []
    for data in (b"a" * 65536, b"a" * 1024, b""):
        to_sign = sigv4.chunk_string_to_sign(rule.amz_date, rule.scope, previous, data)
        previous = sigv4.signature(rule.signing_key, to_sign)
        chain.append(previous)
    assert chain == [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]


TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHAIN = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"


def test_trailer_chain_and_trailer_signature_match_aws_example() -> None:
    key = sigv4.signing_key(S3_SECRET, "20130524", "us-east-1")
    scope = sigv4.credential_scope("20130524", "us-east-1")
    previous, chain = TRAILER_SEED, []
    for data in (b"a" * 65536, b"a" * 1024, b""):
        previous = sigv4.signature(
            key, sigv4.chunk_string_to_sign("20130524T000000Z", scope, previous, data)
        )
        chain.append(previous)
    assert chain == TRAILER_CHAIN
    trailers = [("x-amz-checksum-crc32c", "sOO8/Q==")]
    to_sign = sigv4.trailer_string_to_sign("20130524T000000Z", scope, previous, trailers)
    assert sigv4.signature(key, to_sign) == TRAILER_SIGNATURE


def test_the_tests_own_chunk_signer_matches_aws_examples() -> None:
    """tests/signing.py signs the hand-made aws-chunked bodies; it must agree with AWS."""
    previous = STREAM_SEED
    for data, expected in zip(
        (b"a" * 65536, b"a" * 1024, b""),
        ["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
         "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
         "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"],
        strict=True,
    ):  # fmt: skip
        previous = signing.chunk_signature(S3_SECRET, "20130524T000000Z", previous, data)
        assert previous == expected
    assert (
        signing.trailer_signature(
            S3_SECRET, "20130524T000000Z", TRAILER_CHAIN[-1], "x-amz-checksum-crc32c:sOO8/Q==\n"
        )
        == TRAILER_SIGNATURE
    )


def _changed(request: SignedRequest, **headers: str | None) -> SignedRequest:
    merged = {k: v for k, v in {**request.headers, **headers}.items() if v is not None}
    return SignedRequest(request.method, request.path, request.raw_query, merged)


def _refused(request: SignedRequest, now: datetime = S3_NOW) -> str:
    with pytest.raises(S3Error) as caught:
        verify(request, KEYS, now)
    return caught.value.code


def _with(request: SignedRequest, **fields: str) -> SignedRequest:
    values = {
        "method": request.method,
        "path": request.path,
        "raw_query": request.raw_query,
        "headers": request.headers,
    }
    values.update(fields)
    return SignedRequest(**values)  # type: ignore[arg-type]


TAMPERED = {
    "a signed header's value": (_changed(_get_object(), range="bytes=0-10"),
                                "SignatureDoesNotMatch"),
    "the method": (_with(_get_object(), method="HEAD"), "SignatureDoesNotMatch"),
    "the path": (_with(_get_object(), path="/test.txy"), "SignatureDoesNotMatch"),
    "a query value": (_with(_list_objects(), raw_query="max-keys=3&prefix=J"),
                      "SignatureDoesNotMatch"),
    "a query parameter added": (_with(_list_objects(), raw_query="max-keys=2&prefix=J&marker=a"),
                                "SignatureDoesNotMatch"),
    "the payload hash": (_changed(_put_object(), **{"x-amz-content-sha256": "0" * 64}),
                         "SignatureDoesNotMatch"),
    "the date": (_changed(_get_object(), **{"x-amz-date": "20130524T000001Z"}),
                 "SignatureDoesNotMatch"),
    "the signature": (_changed(_get_object(), authorization=_get_object().headers[
        "authorization"][:-1] + "2"), "SignatureDoesNotMatch"),
    "an unsigned x-amz header added": (_changed(_get_object(), **{"x-amz-acl": "public-read"}),
                                       "AccessDenied"),
    "the host": (_changed(_get_object(), host="otherbucket.s3.amazonaws.com"),
                 "SignatureDoesNotMatch"),
    "the access key": (_changed(_get_object(), authorization=_get_object().headers[
        "authorization"].replace(S3_KEY, "AKIAOTHER")), "InvalidAccessKeyId"),
    "the service of the scope": (_changed(_get_object(), authorization=_get_object().headers[
        "authorization"].replace("/s3/", "/ec2/")), "AuthorizationHeaderMalformed"),
    "the credential date": (_changed(_get_object(), authorization=_get_object().headers[
        "authorization"].replace("/20130524/", "/20130525/")), "AuthorizationHeaderMalformed"),
    "SignedHeaders dropped": (_changed(_get_object(), authorization=_get_object().headers[
        "authorization"].replace("SignedHeaders=", "Signed=")), "AuthorizationHeaderMalformed"),
    "no payload hash": (_changed(_get_object(), **{"x-amz-content-sha256": None}),
                        "InvalidRequest"),
    "a payload hash that is none": (_changed(_get_object(), **{"x-amz-content-sha256": "abc"}),
                                    "InvalidArgument"),
    "no date": (_changed(_get_object(), **{"x-amz-date": None}), "AccessDenied"),
    "the presigned path": (_with(_presigned(), path="/test.txu"), "SignatureDoesNotMatch"),
    "a presigned parameter": (_with(_presigned(), raw_query=PRESIGNED_QUERY.replace(
        "X-Amz-Expires=86400", "X-Amz-Expires=86401")), "SignatureDoesNotMatch"),
    "a presigned week and a second": (_with(_presigned(), raw_query=PRESIGNED_QUERY.replace(
        "X-Amz-Expires=86400", "X-Amz-Expires=604801")), "AuthorizationQueryParametersError"),
    "a presigned parameter missing": (_with(_presigned(), raw_query=PRESIGNED_QUERY.replace(
        "&X-Amz-SignedHeaders=host", "")), "AuthorizationQueryParametersError"),
    "header and query signatures both": (_changed(_presigned(), authorization=_get_object(
        ).headers["authorization"]), "InvalidArgument"),
    "no signature at all": (SignedRequest("GET", "/test.txt", "", {"host": HOST}), "AccessDenied"),
    "the streaming seed's decoded length": (_changed(_streaming_put(), **{
        "x-amz-decoded-content-length": "66561"}), "SignatureDoesNotMatch"),
}  # fmt: skip


@pytest.mark.parametrize("what", sorted(TAMPERED))
def test_one_thing_changed_is_refused(what: str) -> None:
    request, code = TAMPERED[what]
    assert _refused(request) == code


def test_clock_skew_over_fifteen_minutes_is_refused() -> None:
    assert verify(_get_object(), KEYS, S3_NOW + timedelta(minutes=14)).key.access_key == S3_KEY
    assert _refused(_get_object(), S3_NOW + timedelta(minutes=16)) == "RequestTimeTooSkewed"
    assert _refused(_get_object(), S3_NOW - timedelta(minutes=16)) == "RequestTimeTooSkewed"


def test_presigned_url_expires() -> None:
    assert verify(_presigned(), KEYS, S3_NOW + timedelta(seconds=86400)).key
    with pytest.raises(S3Error) as caught:
        verify(_presigned(), KEYS, S3_NOW + timedelta(seconds=86401))
    assert caught.value.code == "AccessDenied"
    assert caught.value.message == "Request has expired"


def test_a_path_sent_less_encoded_than_s3_encodes_still_verifies() -> None:
    """`$` sent raw: S3 encodes it (%24) in the canonical URI, as the example signed it."""
    assert verify(_with(_put_object(), path="/test$file.text"), KEYS, S3_NOW).key


def test_chunk_string_to_sign_layout() -> None:
    assert sigv4.chunk_string_to_sign("20130524T000000Z", "s", "prev", b"") == (
        "AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\ns\nprev\n"
        f"{sigv4.EMPTY_SHA256}\n{sigv4.EMPTY_SHA256}"
    )
    assert sigv4.canonical_trailers([("X-Amz-Checksum-CRC32", " AAAAAA== ")]) == (
        "x-amz-checksum-crc32:AAAAAA==\n"
    )
