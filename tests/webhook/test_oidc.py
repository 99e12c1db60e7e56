"""OIDC verification with RS256 tokens minted here and certificates served over local HTTP.

The webhook (real uvicorn) is configured with an :class:`OidcVerifier` whose
certificate URL points at a second local server that counts its requests.
Every bad token is refused with 401/403 and never reaches the handler.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zenjobs.errors import AuthenticationError, BackendUnavailableError
from zenjobs.gcp.oidc import CertsResponse, OidcVerifier
from zenjobs.runtime.webhook import create_app
from zenjobs.testing.http import serve_app

from .doubles import RecordingHandler, envelope_json

AUDIENCE = "https://svc-abc123-ew.a.run.app"
INVOKER = "zenjobs-invoker@proj.iam.gserviceaccount.com"
KID = "test-key-1"


@dataclass
class Key:
    kid: str
    private: rsa.RSAPrivateKey
    cert_pem: str


def make_key(kid: str) -> Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kid)])
    start = datetime(2020, 1, 1, tzinfo=timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=36500))
        .sign(private, hashes.SHA256())
    )
    return Key(kid, private, cert.public_bytes(serialization.Encoding.PEM).decode())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(key: Key, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """An RS256 JWT like the ones Google issues to Cloud Tasks; ``claims`` override."""
    now = int(time.time())  # tokens are checked against the real clock by google-auth
    payload: dict[str, Any] = {
        "iss": "https://accounts.google.com",
        "aud": AUDIENCE,
        "email": INVOKER,
        "email_verified": True,
        "sub": "1234567890",
        "iat": now,
        "exp": now + 3600,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    head = {"alg": "RS256", "kid": key.kid, "typ": "JWT", **(header or {})}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key(KID)


@pytest.fixture(scope="module")
def other_key() -> Key:
    return make_key(KID)  # same key id, different key: a forged signature


class CertServer:
    def __init__(self, key: Key) -> None:
        self.certs = {key.kid: key.cert_pem}
        self.requests = 0

    async def endpoint(self, request: Request) -> Response:
        self.requests += 1
        return JSONResponse(self.certs, headers={"Cache-Control": "public, max-age=19800"})


@pytest.fixture(scope="module")
def cert_server(key: Key) -> Iterator[tuple[CertServer, str]]:
    server = CertServer(key)
    with serve_app(Starlette(routes=[Route("/certs", server.endpoint)])) as base_url:
        yield server, f"{base_url}/certs"


@pytest.fixture
def verifier(cert_server: tuple[CertServer, str]) -> OidcVerifier:
    server, url = cert_server
    server.requests = 0
    return OidcVerifier(AUDIENCE, [INVOKER], certs_url=url)


@pytest.fixture
def secured(verifier: OidcVerifier) -> Iterator[tuple[httpx.Client, RecordingHandler]]:
    handler = RecordingHandler()
    with (
        serve_app(create_app(handler, verifier=verifier)) as base_url,
        httpx.Client(base_url=base_url) as http,
    ):
        yield http, handler


def deliver(http: httpx.Client, token: str | None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {token}".strip()} if token is not None else {}
    return http.post("/_zenjobs/run/send_email", json=envelope_json(), headers=headers)


def test_valid_token_is_accepted(secured: tuple[httpx.Client, RecordingHandler], key: Key) -> None:
    http, handler = secured
    response = deliver(http, mint(key))
    assert response.status_code == 200, response.text
    assert len(handler.ran) == 1
    tick = http.post("/_zenjobs/master", headers={"Authorization": f"Bearer {mint(key)}"})
    assert tick.status_code == 200
    assert handler.ticks == [None]


def bad_tokens(key: Key, other: Key) -> dict[str, tuple[str | None, int]]:
    now = int(time.time())
    unsigned = mint(key, header={"alg": "none"}).rsplit(".", 1)[0] + "."
    return {
        "missing": (None, 401),
        "expired": (mint(key, iat=now - 7200, exp=now - 3600), 401),
        "wrong audience": (mint(key, aud="https://evil.example.com"), 401),
        "wrong issuer": (mint(key, iss="https://evil.example.com"), 401),
        "issued in the future": (mint(key, iat=now + 3600, exp=now + 7200), 401),
        "no exp": (mint(key, exp=None), 401),
        "wrong email": (mint(key, email="attacker@proj.iam.gserviceaccount.com"), 403),
        "no email": (mint(key, email=None), 403),
        "email not verified": (mint(key, email_verified=False), 403),
        "email_verified as string": (mint(key, email_verified="true"), 403),
        "bad signature": (mint(other, aud=AUDIENCE), 401),
        "alg none": (unsigned, 401),
        "alg HS256": (mint(key, header={"alg": "HS256"}), 401),
        "unknown kid": (mint(key, header={"kid": "rotated-away"}), 401),
        "garbage": ("not-a-jwt", 401),
        "three garbage parts": ("a.b.c", 401),
        "empty bearer": ("", 401),
        "huge": ("a" * 20_000, 401),
    }


def test_bad_tokens_are_refused_and_run_nothing(
    secured: tuple[httpx.Client, RecordingHandler], key: Key, other_key: Key
) -> None:
    http, handler = secured
    for case, (token, status) in bad_tokens(key, other_key).items():
        response = deliver(http, token)
        assert response.status_code == status, (case, response.text)
        error = response.json()["error"]
        assert error["code"] == ("unauthenticated" if status == 401 else "permission_denied"), case
        tick = http.post(
            "/_zenjobs/master",
            headers={"Authorization": f"Bearer {token}".strip()} if token else {},
        )
        assert tick.status_code == status, case
    assert handler.deliveries == [] and handler.ticks == []


def test_wrong_scheme_is_401(secured: tuple[httpx.Client, RecordingHandler], key: Key) -> None:
    http, handler = secured
    response = deliver(http, mint(key), scheme="Basic")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert handler.deliveries == []


def test_health_needs_no_token(secured: tuple[httpx.Client, RecordingHandler]) -> None:
    http, _ = secured
    assert http.get("/_zenjobs/health").status_code == 200


def test_certificates_are_fetched_once_across_many_verifications(
    secured: tuple[httpx.Client, RecordingHandler],
    cert_server: tuple[CertServer, str],
    key: Key,
    other_key: Key,
) -> None:
    http, handler = secured
    server, _ = cert_server
    for _ in range(25):
        assert deliver(http, mint(key)).status_code == 200
    assert deliver(http, mint(other_key)).status_code == 401
    assert deliver(http, mint(key, header={"kid": "unknown"})).status_code == 401
    assert len(handler.ran) == 25
    assert server.requests == 1


class CountingFetch:
    """An in-process certificate source with a controllable cache clock."""

    def __init__(self, key: Key, max_age: float | None) -> None:
        self.certs = {key.kid: key.cert_pem}
        self.max_age = max_age
        self.calls = 0
        self.fail = False
        self.now = 0.0

    def __call__(self, url: str) -> CertsResponse:
        self.calls += 1
        if self.fail:
            raise OSError("certificate endpoint unreachable")
        return CertsResponse(dict(self.certs), self.max_age)

    def monotonic(self) -> float:
        return self.now


async def test_cache_respects_max_age_and_survives_refresh_failures(key: Key) -> None:
    fetch = CountingFetch(key, max_age=300)
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic)
    assert (await verifier.verify(mint(key))).email == INVOKER
    fetch.now = 299
    await verifier.verify(mint(key))
    assert fetch.calls == 1
    fetch.now = 301
    await verifier.verify(mint(key))
    assert fetch.calls == 2
    fetch.now = 700
    fetch.fail = True  # stale certificates are better than refusing every delivery
    await verifier.verify(mint(key))
    assert fetch.calls == 3


async def test_key_rotation_refreshes_once_per_interval(key: Key) -> None:
    fetch = CountingFetch(key, max_age=None)
    verifier = OidcVerifier(
        AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic, min_refresh_interval=60
    )
    await verifier.verify(mint(key))
    new_key = make_key("test-key-2")
    fetch.now = 10
    with pytest.raises(AuthenticationError):  # refreshed a moment ago: no new fetch
        await verifier.verify(mint(new_key))
    assert fetch.calls == 1
    fetch.certs[new_key.kid] = new_key.cert_pem
    fetch.now = 61
    await verifier.verify(mint(new_key))
    assert fetch.calls == 2


async def test_unreachable_certificates_without_cache_is_retryable(key: Key) -> None:
    fetch = CountingFetch(key, max_age=None)
    fetch.fail = True
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch)
    with pytest.raises(BackendUnavailableError):
        await verifier.verify(mint(key))


def test_cert_outage_answers_503(key: Key) -> None:
    fetch = CountingFetch(key, max_age=None)
    fetch.fail = True
    handler = RecordingHandler()
    app = create_app(handler, verifier=OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch))
    with serve_app(app) as base_url, httpx.Client(base_url=base_url) as http:
        response = deliver(http, mint(key))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "backend_unavailable"
    assert handler.deliveries == []


def test_verifier_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError):
        OidcVerifier("", [INVOKER])
    with pytest.raises(ValueError):
        OidcVerifier(AUDIENCE, INVOKER)
    with pytest.raises(ValueError):
        OidcVerifier(AUDIENCE, [])


jwt_segments = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=", max_size=60
)
authorization_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80),
    st.builds(lambda a, b, c: f"Bearer {a}.{b}.{c}", jwt_segments, jwt_segments, jwt_segments),
    st.builds(
        lambda h, p: f"Bearer {b64(json.dumps(h).encode())}.{b64(json.dumps(p).encode())}.",
        st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), st.text(max_size=8), max_size=3),
        st.dictionaries(
            st.sampled_from(["iss", "aud", "email", "exp", "iat"]), st.integers(), max_size=5
        ),
    ),
)


def test_random_authorization_headers_are_refused_without_5xx(
    secured: tuple[httpx.Client, RecordingHandler],
) -> None:
    http, handler = secured

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(authorization=authorization_values)
    def check(authorization: str) -> None:
        response = deliver(http, authorization, scheme="")
        assert response.status_code in (401, 403), response.text
        assert response.json()["error"]["code"] in ("unauthenticated", "permission_denied")

    check()
    assert handler.deliveries == []
