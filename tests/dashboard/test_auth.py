"""Dashboard authentication with tokens minted here: RSA for Google ID tokens, EC P-256 for IAP.

Keys are served by injected fetchers (never the network); google-auth checks
``iat``/``exp`` against the real clock, so tokens are minted around ``time.time()``.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from zenjobs.dashboard.auth import (
    IAP_ISSUER,
    AnyEmailOidcVerifier,
    GoogleIdentityAuth,
    IapVerifier,
    LocalAuth,
    Principal,
    PrincipalRule,
    Role,
    jwks_to_pem,
    parse_principals,
)
from zenjobs.errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    PermissionDeniedError,
)
from zenjobs.gcp.oidc import CertsResponse

SERVICE_URL = "https://svc-abc123-ew.a.run.app"
IAP_AUDIENCE = "/projects/123456789/global/backendServices/987654321"
VIEWER = "viewer@example.com"
OPERATOR = "ops-bot@proj.iam.gserviceaccount.com"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class RsaKey:
    kid: str
    private: rsa.RSAPrivateKey

    @property
    def pem(self) -> str:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


@dataclass
class EcKey:
    kid: str
    private: ec.EllipticCurvePrivateKey

    @property
    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
                "x": b64(numbers.x.to_bytes(32, "big")), "y": b64(numbers.y.to_bytes(32, "big"))}


def rsa_key(kid: str = "rsa-1") -> RsaKey:
    return RsaKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str = "iap-1") -> EcKey:
    return EcKey(kid, ec.generate_private_key(ec.SECP256R1()))


def _encode(head: dict[str, Any], payload: dict[str, Any]) -> str:
    payload = {k: v for k, v in payload.items() if v is not None}
    return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"


def mint_oidc(key: RsaKey, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A Google ID token (RS256) for the service URL; ``claims`` override."""
    now = int(time.time())
    payload: dict[str, Any] = {"iss": "https://accounts.google.com", "aud": SERVICE_URL,
                               "email": VIEWER, "email_verified": True, "sub": "1",
                               "iat": now, "exp": now + 3600, **claims}
    signing_input = _encode({"alg": "RS256", "kid": key.kid, "typ": "JWT", **(header or {})},
                            payload)
    signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def mint_iap(key: EcKey, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """An IAP assertion (ES256, raw r||s signature); ``claims`` override."""
    now = int(time.time())
    payload: dict[str, Any] = {"iss": IAP_ISSUER, "aud": IAP_AUDIENCE, "email": VIEWER,
                               "sub": "accounts.google.com:1", "hd": "example.com",
                               "iat": now, "exp": now + 600, **claims}
    signing_input = _encode({"alg": "ES256", "kid": key.kid, "typ": "JWT", **(header or {})},
                            payload)
    der = key.private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


class Fetch:
    """An in-process key source that counts calls, with the key cache's clock."""

    def __init__(self, keys: dict[str, str], max_age: float | None = 300) -> None:
        self.keys = keys
        self.max_age = max_age
        self.calls = 0
        self.fail = False
        self.now = 0.0

    def __call__(self, url: str) -> CertsResponse:
        self.calls += 1
        if self.fail:
            raise OSError("key endpoint unreachable")
        return CertsResponse(dict(self.keys), self.max_age)

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rkey() -> RsaKey:
    return rsa_key()


@pytest.fixture(scope="module")
def ekey() -> EcKey:
    return ec_key()


@pytest.fixture
def oidc_fetch(rkey: RsaKey) -> Fetch:
    return Fetch({rkey.kid: rkey.pem})


@pytest.fixture
def iap_fetch(ekey: EcKey) -> Fetch:
    return Fetch(jwks_to_pem({"keys": [ekey.jwk]}))


def make_auth(oidc_fetch: Fetch | None, iap_fetch: Fetch | None, *,
              viewers: tuple[str, ...] = (VIEWER, "domain:readers.example.org"),
              operators: tuple[str, ...] = (f"serviceAccount:{OPERATOR}",)) -> GoogleIdentityAuth:
    verifier = (AnyEmailOidcVerifier(SERVICE_URL, fetch=oidc_fetch, monotonic=oidc_fetch.monotonic)
                if oidc_fetch is not None else None)
    return GoogleIdentityAuth(
        viewers=viewers,
        operators=operators,
        oidc_audience=SERVICE_URL if oidc_fetch is not None else None,
        iap_audience=IAP_AUDIENCE if iap_fetch is not None else None,
        oidc_verifier=verifier,
        iap_certs_fetcher=iap_fetch,
        monotonic=iap_fetch.monotonic if iap_fetch is not None else time.monotonic,
    )


@pytest.fixture
def auth(oidc_fetch: Fetch, iap_fetch: Fetch) -> GoogleIdentityAuth:
    return make_auth(oidc_fetch, iap_fetch)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def iap(token: str) -> dict[str, str]:
    return {"x-goog-iap-jwt-assertion": token}


# --- principals and roles ---------------------------------------------------------------


def test_parse_principals_accepts_the_documented_forms() -> None:
    rules = parse_principals(
        ["user:Alice@Example.com", "serviceAccount:x@p.iam.gserviceaccount.com",
         " bob@example.com ", "domain:Example.ORG", "alice@example.com"],
        "ZENJOBS_DASHBOARD_VIEWERS",
    )
    assert rules == (
        PrincipalRule("email", "alice@example.com"),  # duplicates collapse, case-insensitive
        PrincipalRule("email", "x@p.iam.gserviceaccount.com"),
        PrincipalRule("email", "bob@example.com"),
        PrincipalRule("domain", "example.org"),
    )
    assert rules[0].matches("ALICE@example.COM")
    assert rules[3].matches("carol@EXAMPLE.org")
    assert not rules[3].matches("carol@sub.example.org")
    assert not rules[3].matches("example.org")


@pytest.mark.parametrize("bad", [
    "", "   ", "alice", "allUsers", "allAuthenticatedUsers", "group:admins@example.com",
    "user:", "domain:", "domain:@example.com", "domain:example", "user:a b@example.com",
    "owner:alice@example.com", "alice@", "@example.com", "user:alice@example.com,bob@x.com",
])
def test_parse_principals_refuses_anything_else(bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_principals(["ok@example.com", bad], "ZENJOBS_DASHBOARD_OPERATORS")
    assert "ZENJOBS_DASHBOARD_OPERATORS" in str(info.value)
    assert repr(bad) in str(info.value)


def test_parse_principals_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError):
        parse_principals("alice@example.com", "viewers")


def test_operator_can_do_what_a_viewer_can() -> None:
    assert Role.OPERATOR.grants(Role.VIEWER) and Role.OPERATOR.grants(Role.OPERATOR)
    assert Role.VIEWER.grants(Role.VIEWER) and not Role.VIEWER.grants(Role.OPERATOR)
    assert Role("viewer") is Role.VIEWER and Role.OPERATOR.value == "operator"
    assert Principal("a@b.c", Role.OPERATOR, "iap").can(Role.VIEWER)


async def test_local_auth_is_an_operator_whatever_the_headers() -> None:
    principal = await LocalAuth().authenticate({})
    assert principal == Principal("local developer", Role.OPERATOR, "local")


# --- configuration ----------------------------------------------------------------------


def test_configuration_names_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match=r"oidc_audience .* or iap_audience"):
        GoogleIdentityAuth(viewers=[VIEWER], operators=[], oidc_audience=None, iap_audience=None)
    with pytest.raises(ConfigurationError, match="at least one operator or viewer"):
        GoogleIdentityAuth(viewers=[], operators=[], oidc_audience=SERVICE_URL,
                           iap_audience=None)
    with pytest.raises(ConfigurationError, match="iap_audience 'my-project'"):
        GoogleIdentityAuth(viewers=[VIEWER], operators=[], oidc_audience=None,
                           iap_audience="my-project")
    with pytest.raises(ConfigurationError, match="oidc_verifier is for audience"):
        GoogleIdentityAuth(viewers=[VIEWER], operators=[], oidc_audience=SERVICE_URL,
                           iap_audience=None,
                           oidc_verifier=AnyEmailOidcVerifier("https://other.example.com"))
    with pytest.raises(ConfigurationError, match="viewers: 'nobody'"):
        GoogleIdentityAuth(viewers=["nobody"], operators=[], oidc_audience=SERVICE_URL,
                           iap_audience=None)
    app_audience = GoogleIdentityAuth(viewers=[VIEWER], operators=[], oidc_audience=None,
                                      iap_audience="/projects/42/apps/my-project")
    assert app_audience.iap is not None and app_audience.oidc is None


# --- Authorization: Bearer (Google ID tokens) -------------------------------------------


async def test_oidc_viewer_operator_and_domain(auth: GoogleIdentityAuth, rkey: RsaKey) -> None:
    assert await auth.authenticate(bearer(mint_oidc(rkey))) == Principal(VIEWER, Role.VIEWER,
                                                                         "oidc")
    operator = await auth.authenticate(bearer(mint_oidc(rkey, email=OPERATOR)))
    assert operator == Principal(OPERATOR, Role.OPERATOR, "oidc")
    reader = await auth.authenticate(bearer(mint_oidc(rkey, email="Dana@Readers.Example.org")))
    assert (reader.email, reader.role) == ("Dana@Readers.Example.org", Role.VIEWER)


async def test_operator_wins_when_listed_twice(oidc_fetch: Fetch, rkey: RsaKey) -> None:
    auth = make_auth(oidc_fetch, None, viewers=("domain:example.com",),
                     operators=("user:boss@example.com",))
    principal = await auth.authenticate(bearer(mint_oidc(rkey, email="Boss@example.com")))
    assert principal.role is Role.OPERATOR


@pytest.mark.parametrize("email", ["mallory@example.com", "viewer@example.com.evil.org",
                                   "x@sub.readers.example.org"])
async def test_unknown_email_is_403(auth: GoogleIdentityAuth, rkey: RsaKey, email: str) -> None:
    with pytest.raises(PermissionDeniedError, match="not a dashboard viewer or operator"):
        await auth.authenticate(bearer(mint_oidc(rkey, email=email)))


async def test_unverified_email_is_403(auth: GoogleIdentityAuth, rkey: RsaKey) -> None:
    with pytest.raises(PermissionDeniedError, match="Authorization: Bearer token refused"):
        await auth.authenticate(bearer(mint_oidc(rkey, email_verified=False)))


async def test_no_headers_is_401_naming_the_expected_headers(auth: GoogleIdentityAuth,
                                                             oidc_fetch: Fetch) -> None:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate({})
    assert "X-Goog-IAP-JWT-Assertion" in str(info.value)
    assert "Authorization: Bearer" in str(info.value)
    only_oidc = make_auth(oidc_fetch, None)
    with pytest.raises(AuthenticationError) as info:
        await only_oidc.authenticate({"x-goog-iap-jwt-assertion": "a.b.c"})
    assert "Authorization: Bearer" in str(info.value)
    assert "no IAP audience is configured" in str(info.value)


def bad_bearers(key: RsaKey) -> dict[str, tuple[str, str]]:
    """Case -> (token, what the refusal says)."""
    now = int(time.time())
    return {
        "forged": (mint_oidc(rsa_key(key.kid)), "signature"),  # same kid, another key
        "expired": (mint_oidc(key, iat=now - 7200, exp=now - 3600), "expired"),
        "wrong audience": (mint_oidc(key, aud="https://evil.example.com"), "audience"),
        "wrong issuer": (mint_oidc(key, iss="https://evil.example.com"), "issuer"),
        "IAP audience": (mint_oidc(key, aud=IAP_AUDIENCE), "audience"),
        "unknown kid": (mint_oidc(key, header={"kid": "rotated-away"}), "signature"),
        "alg none": (mint_oidc(key, header={"alg": "none"}).rsplit(".", 1)[0] + ".", "Bearer"),
    }


async def test_bad_bearer_tokens_are_401(auth: GoogleIdentityAuth, rkey: RsaKey) -> None:
    for case, (token, reason) in bad_bearers(rkey).items():
        with pytest.raises(AuthenticationError) as info:
            await auth.authenticate(bearer(token))
        message = str(info.value)
        assert "Authorization" in message and reason in message, (case, message)
        assert token not in message, case


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer abc",
                                   "Bearer a.b.c", "Bearer a.b.c.d", "Token a.b.c",
                                   "Bearer " + "a" * 20_000])
async def test_malformed_authorization_is_401(auth: GoogleIdentityAuth, value: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        await auth.authenticate({"authorization": value})
    assert "a" * 100 not in str(info.value)


async def test_any_email_verifier_keeps_every_other_check(oidc_fetch: Fetch,
                                                          rkey: RsaKey) -> None:
    verifier = AnyEmailOidcVerifier(SERVICE_URL, fetch=oidc_fetch)
    identity = await verifier.verify(mint_oidc(rkey, email="anyone@anywhere.example"))
    assert identity.email == "anyone@anywhere.example"
    with pytest.raises(PermissionDeniedError):
        await verifier.verify(mint_oidc(rkey, email=None))
    with pytest.raises(AuthenticationError):
        await verifier.verify(mint_oidc(rkey, iss="https://evil.example.com"))


# --- X-Goog-IAP-JWT-Assertion -----------------------------------------------------------


async def test_iap_assertion_gives_a_principal(auth: GoogleIdentityAuth, ekey: EcKey) -> None:
    assert await auth.authenticate(iap(mint_iap(ekey))) == Principal(VIEWER, Role.VIEWER, "iap")
    operator = await auth.authenticate(iap(mint_iap(ekey, email=OPERATOR.upper())))
    assert operator == Principal(OPERATOR.upper(), Role.OPERATOR, "iap")
    with pytest.raises(PermissionDeniedError):
        await auth.authenticate(iap(mint_iap(ekey, email="mallory@example.com")))


async def test_iap_app_engine_audience(iap_fetch: Fetch, ekey: EcKey) -> None:
    audience = "/projects/123456789/apps/my-project"
    auth = GoogleIdentityAuth(viewers=[VIEWER], operators=[], oidc_audience=None,
                              iap_audience=audience, iap_certs_fetcher=iap_fetch)
    principal = await auth.authenticate(iap(mint_iap(ekey, aud=audience)))
    assert principal.via == "iap"


def bad_assertions(key: EcKey, rkey: RsaKey) -> dict[str, tuple[str, str]]:
    """Case -> (assertion, what the refusal says)."""
    now = int(time.time())
    return {
        "forged": (mint_iap(ec_key(key.kid)), "signature"),  # same kid, another private key
        "expired": (mint_iap(key, iat=now - 7200, exp=now - 3600), "expired"),
        "not yet valid": (mint_iap(key, nbf=now + 3600), "not valid yet"),
        "wrong audience": (mint_iap(key, aud="/projects/1/global/backendServices/2"),
                           "audience"),
        "service URL audience": (mint_iap(key, aud=SERVICE_URL), "audience"),
        "wrong issuer": (mint_iap(key, iss="https://accounts.google.com"), "issuer"),
        "unknown kid": (mint_iap(key, header={"kid": "rotated-away"}), "signature"),
        "RS256 (alg confusion)": (mint_oidc(rkey, header={"kid": key.kid}, iss=IAP_ISSUER,
                                            aud=IAP_AUDIENCE), "ES256"),
        "alg none": (mint_iap(key, header={"alg": "none"}).rsplit(".", 1)[0] + ".", "JWT"),
        "garbage": ("not-a-jwt", "JWT"),
        "three garbage parts": ("a.b.c", "JWT"),
        "bearer prefix": ("Bearer " + mint_iap(key), "JWT"),
        "empty": ("", "empty"),
        "huge": ("a" * 20_000, "too long"),
    }


async def test_bad_iap_assertions_are_401(auth: GoogleIdentityAuth, ekey: EcKey,
                                          rkey: RsaKey) -> None:
    for case, (token, reason) in bad_assertions(ekey, rkey).items():
        with pytest.raises(AuthenticationError) as info:
            await auth.authenticate(iap(token))
        message = str(info.value)
        assert "X-Goog-IAP-JWT-Assertion" in message and reason in message, (case, message)
        assert not token or token not in message, case


async def test_iap_assertion_without_email_is_403(auth: GoogleIdentityAuth, ekey: EcKey) -> None:
    with pytest.raises(PermissionDeniedError, match="X-Goog-IAP-JWT-Assertion"):
        await auth.authenticate(iap(mint_iap(ekey, email=None)))


async def test_a_bad_iap_assertion_is_not_rescued_by_a_bearer(
    auth: GoogleIdentityAuth, ekey: EcKey, rkey: RsaKey
) -> None:
    headers = {**iap(mint_iap(ekey, aud="/projects/1/apps/other")), **bearer(mint_oidc(rkey))}
    with pytest.raises(AuthenticationError, match="X-Goog-IAP-JWT-Assertion"):
        await auth.authenticate(headers)


async def test_iap_header_is_ignored_when_iap_is_not_configured(oidc_fetch: Fetch,
                                                                rkey: RsaKey) -> None:
    auth = make_auth(oidc_fetch, None)
    principal = await auth.authenticate({**iap("a.b.c"), **bearer(mint_oidc(rkey))})
    assert principal.via == "oidc"


async def test_iap_keys_are_cached_and_unknown_kids_refresh_once_a_minute(ekey: EcKey) -> None:
    fetch = Fetch(jwks_to_pem({"keys": [ekey.jwk]}), max_age=None)
    verifier = IapVerifier(IAP_AUDIENCE, fetch=fetch, monotonic=fetch.monotonic)
    for _ in range(5):
        assert (await verifier.verify(mint_iap(ekey))).email == VIEWER
    assert fetch.calls == 1
    rotated = ec_key("iap-2")
    fetch.now = 10
    with pytest.raises(AuthenticationError):  # refreshed a moment ago: no new fetch
        await verifier.verify(mint_iap(rotated))
    with pytest.raises(AuthenticationError):
        await verifier.verify(mint_iap(rotated, header={"kid": "garbage-kid"}))
    assert fetch.calls == 1
    fetch.keys.update(jwks_to_pem({"keys": [rotated.jwk]}))
    fetch.now = 61
    assert (await verifier.verify(mint_iap(rotated))).email == VIEWER
    assert fetch.calls == 2
    fetch.now = 3700  # past the default TTL: refreshed even for a known kid
    fetch.fail = True  # ... and stale keys are better than refusing everyone
    assert (await verifier.verify(mint_iap(ekey))).email == VIEWER
    assert fetch.calls == 3


async def test_iap_keys_unreachable_without_cache_is_retryable(ekey: EcKey) -> None:
    fetch = Fetch({})
    fetch.fail = True
    verifier = IapVerifier(IAP_AUDIENCE, fetch=fetch)
    with pytest.raises(BackendUnavailableError):
        await verifier.verify(mint_iap(ekey))


def test_jwks_to_pem_keeps_only_es256_keys(ekey: EcKey) -> None:
    rsa_jwk = {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}
    off_curve = {**ekey.jwk, "kid": "bad", "y": ekey.jwk["x"]}
    pems = jwks_to_pem({"keys": [rsa_jwk, off_curve, ekey.jwk, "junk"]})
    assert list(pems) == [ekey.kid]
    assert pems[ekey.kid].startswith("-----BEGIN PUBLIC KEY-----")
    for document in ({}, {"keys": "x"}, {"keys": [rsa_jwk]}, [ekey.jwk]):
        with pytest.raises(ValueError):
            jwks_to_pem(document)
