"""Verifying Google-signed identities for the dashboard: IAP assertions and any-email ID tokens.

:class:`IapVerifier` checks ``X-Goog-IAP-JWT-Assertion`` (ES256, issuer
``https://cloud.google.com/iap``, IAP's published JWK set, held in the same
:class:`~zenjobs.gcp.oidc.KeyCache` as the webhook's certificates: ``max-age`` or a
TTL, fetched in a worker thread, an unknown key id refreshes at most once a minute).
:class:`AnyEmailOidcVerifier` is the webhook's ID-token check for any verified
email: which emails may see the dashboard is decided by roles in :mod:`.auth`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
)
from ..gcp.oidc import (
    MAX_TOKEN_CHARS,
    CertsFetcher,
    CertsResponse,
    KeyCache,
    OidcVerifier,
    VerifiedIdentity,
    _reason,
)

log = logging.getLogger(__name__)

IAP_ISSUER = "https://cloud.google.com/iap"
IAP_KEYS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"

#: The header as documents spell it (requests carry it lower-cased).
IAP_HEADER_NAME = "X-Goog-IAP-JWT-Assertion"
_SEGMENT = r"[A-Za-z0-9_-]+"
_JWS = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)
IAP_AUDIENCE_PATTERN = re.compile(r"/projects/\d+/(?:global/backendServices/\d+|apps/[^/\s]+)")


class AnyEmailOidcVerifier(OidcVerifier):
    """:class:`OidcVerifier` for one audience that accepts any verified Google email.

    Signature, issuer, audience, expiry and ``email_verified`` are checked exactly
    as for the webhook; which emails may see the dashboard is decided by
    :class:`GoogleIdentityAuth`'s principals. ``options`` are OidcVerifier's
    (``fetch``, ``monotonic``, ``wall``, ...).
    """

    def __init__(self, audience: str, **options: Any) -> None:
        super().__init__(audience, None, **options)


def _b64_int(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def jwks_to_pem(document: object) -> dict[str, str]:
    """``{key id: PEM public key}`` for the ES256 (EC P-256) keys of a JWK set.

    Keys of other types are skipped; a document with no usable key is a
    :class:`ValueError`. Needs ``cryptography``.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise ValueError("JWK set has no 'keys' list")
    pems: dict[str, str] = {}
    for jwk in keys:
        if not isinstance(jwk, Mapping):
            continue
        kid, x, y = jwk.get("kid"), jwk.get("x"), jwk.get("y")
        if (jwk.get("kty") != "EC" or jwk.get("crv") != "P-256"
                or jwk.get("alg", "ES256") != "ES256" or jwk.get("use", "sig") != "sig"
                or not isinstance(kid, str) or not kid
                or not isinstance(x, str) or not isinstance(y, str)):
            continue
        try:
            public = ec.EllipticCurvePublicNumbers(_b64_int(x), _b64_int(y), ec.SECP256R1())
            key = public.public_key()
        except ValueError:
            log.warning("IAP JWK %r is not a valid P-256 public key; skipped", kid)
            continue
        pems[kid] = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    if not pems:
        raise ValueError("JWK set has no usable ES256 (EC P-256) key")
    return pems


def fetch_iap_keys(url: str, timeout: float = 10.0) -> CertsResponse:
    """Blocking GET of IAP's JWK set as ``{key id: PEM}``; honours ``Cache-Control: max-age``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        raw = response.read(1_048_576)
        cache_control = response.headers.get("Cache-Control", "")
    match = _MAX_AGE.search(cache_control)
    return CertsResponse(jwks_to_pem(json.loads(raw)),
                         max_age=float(match.group(1)) if match else None)


class IapVerifier:
    """Checks ``X-Goog-IAP-JWT-Assertion`` values for one IAP audience.

    Returns the identity of any valid assertion; the caller decides its role.
    ``fetch`` (blocking, run in a worker thread, returns ``{key id: PEM}``),
    ``monotonic`` (the key cache's clock) and ``wall`` are injectable for tests.
    """

    def __init__(
        self,
        audience: str,
        *,
        keys_url: str = IAP_KEYS_URL,
        fetch: CertsFetcher = fetch_iap_keys,
        clock_skew: int = 10,
        default_ttl: float = 3600.0,
        min_refresh_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not IAP_AUDIENCE_PATTERN.fullmatch(audience or ""):
            raise ConfigurationError(
                f"iap_audience: {audience!r} is not an IAP audience; expected "
                "/projects/NUMBER/global/backendServices/ID or /projects/NUMBER/apps/PROJECT"
            )
        self.audience = audience
        self.keys_url = keys_url
        self._clock_skew = clock_skew
        self._wall = wall
        self._keys = KeyCache(keys_url, fetch, what="IAP keys", default_ttl=default_ttl,
                              min_refresh_interval=min_refresh_interval, monotonic=monotonic)

    async def verify(self, assertion: str) -> VerifiedIdentity:
        """The identity of one header value; 401/403 errors like the OIDC verifier."""
        value = assertion.strip()
        if not value:
            raise AuthenticationError(f"{IAP_HEADER_NAME} header is empty")
        if len(value) > MAX_TOKEN_CHARS:
            raise AuthenticationError(f"{IAP_HEADER_NAME} header is too long")
        if not _JWS.fullmatch(value):
            raise AuthenticationError(
                f"{IAP_HEADER_NAME} header must be a JWT (three base64url segments)"
            )
        from google.auth import exceptions as gexc
        from google.auth import jwt

        try:
            header = cast(Callable[[str], Mapping[str, Any]], jwt.decode_header)(value)
        except (gexc.GoogleAuthError, ValueError, TypeError):
            raise AuthenticationError(f"{IAP_HEADER_NAME} header is not a JWT") from None
        if header.get("alg") != "ES256":
            raise AuthenticationError(f"{IAP_HEADER_NAME} must be signed with ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError(f"{IAP_HEADER_NAME} has no key id")
        keys, _ = await self._keys.keys_for(kid)
        try:
            claims = cast(Callable[..., Mapping[str, Any]], jwt.decode)(
                value, certs=keys, audience=self.audience, clock_skew_in_seconds=self._clock_skew
            )
        except (gexc.GoogleAuthError, ValueError, TypeError) as exc:
            reason = _reason(str(exc))
            log.info("IAP assertion refused: %s", reason)
            raise AuthenticationError(f"{IAP_HEADER_NAME} refused: {reason}") from None
        self._check_times(claims)
        if claims.get("iss") != IAP_ISSUER:
            raise AuthenticationError(
                f"{IAP_HEADER_NAME} refused: issuer is not Identity-Aware Proxy")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise PermissionDeniedError(f"{IAP_HEADER_NAME} carries no email")
        return VerifiedIdentity(email=email, subject=str(claims.get("sub", "")), claims=claims)

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        """``nbf`` (google-auth ignores it) and ``exp`` again against our own clock."""
        now = self._wall()
        nbf, exp = claims.get("nbf"), claims.get("exp")
        for name, claim in (("nbf", nbf), ("exp", exp)):
            if claim is not None and (isinstance(claim, bool)
                                      or not isinstance(claim, (int, float))):
                raise AuthenticationError(f"{IAP_HEADER_NAME} refused: {name} is not a number")
        if nbf is not None and now + self._clock_skew < nbf:
            raise AuthenticationError(f"{IAP_HEADER_NAME} refused: token is not valid yet")
        if exp is not None and now - self._clock_skew > exp:
            raise AuthenticationError(f"{IAP_HEADER_NAME} refused: token expired")
