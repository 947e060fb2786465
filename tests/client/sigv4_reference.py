"""A second, independent SigV4 (AWS Signature Version 4) written from AWS's specification, used only to check
what the client sends. It shares no code with botocore; AWS's published test vectors check it first."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, urlsplit

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def canonical_query(query: str) -> str:
    pairs = [part.split("=", 1) if "=" in part else [part, ""] for part in query.split("&") if part]
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    signed_headers: list[str],
    body: bytes,
    secret: str,
    amz_date: str,
    region: str,
    service: str,
) -> str:
    """The hex signature of a request; ``headers`` by lower-case name, ``signed_headers`` sorted."""
    parts = urlsplit(url)
    canonical_headers = "".join(f"{name}:{' '.join(headers[name].split())}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [
            method,
            parts.path or "/",
            canonical_query(parts.query),
            canonical_headers,
            ";".join(signed_headers),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = _hmac(f"AWS4{secret}".encode(), amz_date[:8])
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(*, method: str, url: str, headers: dict[str, str], body: bytes, secret: str) -> dict[str, str]:
    """Check a received request's Authorization header; returns its parts (key, region, service, signed).
    Raises AssertionError if the signature is not the one ``secret`` makes."""
    match = _AUTHORIZATION.match(headers.get("authorization", ""))
    assert match, f"no SigV4 Authorization header: {headers.get('authorization')!r}"
    signed = match["signed"].split(";")
    assert signed == sorted(signed), signed
    expected = signature(
        method=method,
        url=url,
        headers=headers,
        signed_headers=signed,
        body=body,
        secret=secret,
        amz_date=headers["x-amz-date"],
        region=match["region"],
        service=match["service"],
    )
    assert match["signature"] == expected, "the signature does not verify"
    return match.groupdict()
