"""Verification of the Google-signed OIDC tokens Cloud Tasks and Cloud Scheduler send.

Production webhooks accept a request only with a token Google signed (RS256,
checked against Google's published certificates), issued by Google, for this
service's audience, unexpired, and naming an allowed, verified service-account
email. Signature, ``exp``/``iat`` and audience are checked by google-auth
(:func:`google.auth.jwt.decode`); ``nbf``, issuer and email are checked here.

Google's certificates are cached (``Cache-Control: max-age``, else a fixed TTL),
so verifying a token costs no network round trip, and a refresh runs in a
worker thread so the event loop never waits on the network. A token whose key
id is not in the cache triggers one early refresh (Google rotates keys), at
most once per ``min_refresh_interval``, so garbage tokens cannot make us hammer
the certificate endpoint; a failed refresh is retried no sooner either.

An accepted token is remembered until its ``exp`` or the next certificate
refresh, whichever comes first (a bounded cache keyed by the whole token):
Cloud Tasks and Cloud Scheduler present the same token on many requests, and
checking an RS256 signature against a freshly parsed certificate cost more
than the rest of a delivery (docs/performance.md). A forged or altered token
is a different string, so it never matches; refused tokens are never cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..errors import AuthenticationError, BackendUnavailableError, PermissionDeniedError

log = logging.getLogger(__name__)

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
#: Tokens longer than this are refused before any parsing (Google's are ~1 KB).
MAX_TOKEN_CHARS = 16_384
#: ``Bearer`` and a compact JWS: three base64url segments (RFC 6750, RFC 7515). Anything
#: else in the header is refused before any decoding or certificate fetch.
_SEGMENT = r"[A-Za-z0-9_-]+"
_BEARER = re.compile(rf"^(?i:bearer) +({_SEGMENT}\.{_SEGMENT}\.{_SEGMENT})\Z")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class CertsResponse:
    """Google's certificates (``{key id: PEM certificate}``) and how long to keep them."""

    certs: Mapping[str, str]
    max_age: float | None = None


CertsFetcher = Callable[[str], CertsResponse]


def fetch_certs(url: str, timeout: float = 10.0) -> CertsResponse:
    """Blocking GET of a certificate document; honours ``Cache-Control: max-age``."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        raw = response.read(1_048_576)
        cache_control = response.headers.get("Cache-Control", "")
    data = json.loads(raw)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError("certificate document is not a {key id: PEM} JSON object")
    match = _MAX_AGE.search(cache_control)
    return CertsResponse(certs=data, max_age=float(match.group(1)) if match else None)


@dataclass(frozen=True)
class VerifiedIdentity:
    """The claims of an accepted token that callers may want to log."""

    email: str
    subject: str
    claims: Mapping[str, Any]


class KeyCache:
    """Google's public keys from one URL, cached and refreshed off the event loop.

    Kept for the response's ``max-age`` (else ``default_ttl``). A key id not in
    the cache triggers one refresh, at most once per ``min_refresh_interval``
    (Google rotates keys; garbage tokens must not make us hammer the endpoint);
    a failed refresh keeps the cached keys and is not retried sooner either.
    Refreshes run in a worker thread under a lock, so any event loop may ask.
    Used by the webhook's :class:`OidcVerifier` and the dashboard's IAP verifier.
    """

    def __init__(self, url: str, fetch: CertsFetcher, *, what: str, default_ttl: float = 3600.0,
                 min_refresh_interval: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.what = what  # "OIDC certificates", "IAP keys": named in logs and errors
        self._fetch = fetch
        self._default_ttl = default_ttl
        self._min_refresh_interval = min_refresh_interval
        self._monotonic = monotonic
        self._lock = threading.Lock()  # loop-agnostic: refreshes happen in worker threads
        self._keys: Mapping[str, str] | None = None
        self._expires_at = 0.0
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")

    def still_current(self, fetched_at: float) -> bool:
        """Whether the keys fetched at ``fetched_at`` are still the cached, unexpired ones."""
        return fetched_at == self._fetched_at and self._monotonic() < self._expires_at

    async def keys_for(self, kid: str) -> tuple[Mapping[str, str], float]:
        """The keys to check ``kid`` against, and when they were fetched."""
        keys = self._keys
        if keys is not None and self._monotonic() < self._expires_at and kid in keys:
            return keys, self._fetched_at
        return await asyncio.to_thread(self._refresh, kid)

    def _refresh(self, kid: str) -> tuple[Mapping[str, str], float]:
        """Fetch keys unless another thread just did (runs in a worker thread)."""
        with self._lock:
            now = self._monotonic()
            keys = self._keys
            if keys is not None and now < self._expires_at:
                if kid in keys:
                    return keys, self._fetched_at
                if now - self._fetched_at < self._min_refresh_interval:
                    # unknown kid, but we refreshed recently: the token is bad
                    return keys, self._fetched_at
            if keys is not None and now - self._failed_at < self._min_refresh_interval:
                return keys, self._fetched_at  # the endpoint failed a moment ago
            try:
                response = self._fetch(self.url)
            except Exception as exc:
                self._failed_at = now
                if keys is not None:
                    log.warning("refreshing %s failed, using cached ones: %s", self.what, exc)
                    return keys, self._fetched_at
                log.error("fetching %s from %s failed: %s", self.what, self.url, exc)
                raise BackendUnavailableError(f"cannot fetch {self.what}") from None
            ttl = response.max_age if response.max_age is not None else self._default_ttl
            self._keys = dict(response.certs)
            self._fetched_at = now
            self._expires_at = now + max(ttl, 0.0)
            return self._keys, now


class OidcVerifier:
    """Checks ``Authorization: Bearer`` tokens against one audience and allowed emails.

    ``allowed_emails=None`` accepts any verified email, for a caller that decides
    roles itself (the dashboard); the webhook always passes its invoker account.

    ``fetch`` (blocking, run in a thread), ``monotonic`` and ``wall`` (the
    clock accepted tokens expire on, seconds since the epoch) are injectable so
    tests serve certificates locally and control cache expiry.
    """

    def __init__(
        self,
        audience: str,
        allowed_emails: Collection[str] | None,
        *,
        certs_url: str = GOOGLE_CERTS_URL,
        issuers: Collection[str] = GOOGLE_ISSUERS,
        fetch: CertsFetcher = fetch_certs,
        clock_skew: int = 10,
        default_ttl: float = 3600.0,
        min_refresh_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        accepted_cache_size: int = 256,
    ) -> None:
        if not audience:
            raise ValueError("OidcVerifier needs a non-empty audience (the service URL)")
        if allowed_emails is not None and (not allowed_emails
                                           or isinstance(allowed_emails, str)):
            raise ValueError("OidcVerifier needs a collection of allowed emails (or None: any "
                             "verified email, for a caller that checks roles itself)")
        self.audience = audience
        #: None: any verified email passes; the caller decides what it may do.
        self.allowed_emails = (None if allowed_emails is None
                               else frozenset(e.lower() for e in allowed_emails))
        self.certs_url = certs_url
        self.issuers = frozenset(issuers)
        self._clock_skew = clock_skew
        self._wall = wall
        self._accepted_cache_size = accepted_cache_size
        #: token -> (identity, exp, certificates fetched at): tokens already verified.
        self._accepted: dict[str, tuple[VerifiedIdentity, float, float]] = {}
        #: Tokens accepted from that cache, without checking the signature again.
        self.cache_hits = 0
        self._certs = KeyCache(certs_url, fetch, what="OIDC certificates",
                               default_ttl=default_ttl,
                               min_refresh_interval=min_refresh_interval, monotonic=monotonic)

    async def verify_header(self, authorization: str | None) -> VerifiedIdentity:
        """Verify an ``Authorization`` header value; raise 401/403 errors."""
        if not authorization:
            raise AuthenticationError("missing Authorization: Bearer token")
        if len(authorization) > MAX_TOKEN_CHARS + 16:
            raise AuthenticationError("token too long")
        match = _BEARER.fullmatch(authorization.strip())
        if match is None:
            raise AuthenticationError("Authorization header must be 'Bearer <JWT>' "
                                      "(three base64url segments)")
        return await self.verify(match.group(1))

    async def verify(self, token: str) -> VerifiedIdentity:
        """Verify one ID token; :class:`AuthenticationError` or :class:`PermissionDeniedError`."""
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError("token too long")
        cached = self._accepted.get(token)
        if cached is not None:
            identity, exp, fetched_at = cached
            if self._certs.still_current(fetched_at) and self._wall() < exp:
                self.cache_hits += 1
                return identity
            self._accepted.pop(token, None)
        from google.auth import exceptions as gexc
        from google.auth import jwt

        try:
            header = cast(Callable[[str], Mapping[str, Any]], jwt.decode_header)(token)
        except (gexc.GoogleAuthError, ValueError, TypeError):
            raise AuthenticationError("token is not a JWT") from None
        if header.get("alg") != "RS256":
            raise AuthenticationError("token must be signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("token has no key id")  # Google always sends one
        # The fetch time comes with the certificates: a refresh landing meanwhile
        # must not let this token outlive the certificates that verified it.
        certs, fetched_at = await self._certs.keys_for(kid)
        try:
            claims = cast(Callable[..., Mapping[str, Any]], jwt.decode)(
                token, certs=certs, audience=self.audience, clock_skew_in_seconds=self._clock_skew
            )
        except (gexc.GoogleAuthError, ValueError, TypeError) as exc:
            log.info("OIDC token refused: %s", exc)
            raise AuthenticationError(_reason(str(exc))) from None
        self._check_not_before(claims.get("nbf"))
        identity = self._check_claims(claims)
        self._remember(token, identity, claims.get("exp"), fetched_at)
        return identity

    def _remember(self, token: str, identity: VerifiedIdentity, exp: object,
                  fetched_at: float) -> None:
        if self._accepted_cache_size <= 0 or isinstance(exp, bool):
            return
        if not isinstance(exp, (int, float)):
            return
        while len(self._accepted) >= self._accepted_cache_size:
            self._accepted.pop(next(iter(self._accepted)), None)  # the oldest entry
        self._accepted[token] = (identity, float(exp), fetched_at)

    def _check_not_before(self, nbf: object) -> None:
        """google-auth checks ``iat`` and ``exp`` only; ``nbf`` gets the same skew."""
        if nbf is None:
            return
        if isinstance(nbf, bool) or not isinstance(nbf, (int, float)):
            raise AuthenticationError("token is invalid")
        if self._wall() + self._clock_skew < nbf:
            raise AuthenticationError("token is not valid yet")

    def _check_claims(self, claims: Mapping[str, Any]) -> VerifiedIdentity:
        if claims.get("iss") not in self.issuers:
            raise AuthenticationError("token issuer is not trusted")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise PermissionDeniedError("token has no email claim")
        if claims.get("email_verified") is not True:
            raise PermissionDeniedError("token email is not verified")
        if self.allowed_emails is not None and email.lower() not in self.allowed_emails:
            raise PermissionDeniedError("token identity is not allowed to call this service")
        return VerifiedIdentity(email=email, subject=str(claims.get("sub", "")), claims=claims)


def _reason(detail: str) -> str:
    """A short, stable reason for a refused token (google-auth's text names internals)."""
    lowered = detail.lower()
    if "expired" in lowered:
        return "token expired"
    if "too early" in lowered:
        return "token used before its issue time"
    if "audience" in lowered:
        return "token audience does not match this service"
    if "signature" in lowered or "certificate" in lowered:
        return "token signature is invalid"
    return "token is invalid"
