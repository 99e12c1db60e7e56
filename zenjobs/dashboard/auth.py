"""Who may open the dashboard, and how a request proves who it is.

The dashboard shows every job, run and payload of the service and lets operators
change them, so the deployed service never serves it without a Google-signed
identity, checked here against configured principals:

* behind Identity-Aware Proxy, the ``X-Goog-IAP-JWT-Assertion`` header: ES256, issuer
  ``https://cloud.google.com/iap``, audience ``/projects/NUMBER/global/backendServices/ID``
  (or ``/projects/NUMBER/apps/PROJECT``), keys from IAP's published JWK set;
* otherwise ``Authorization: Bearer`` with a Google ID token for the service URL (RS256,
  Google's certificates), verified by :class:`~zenjobs.gcp.oidc.OidcVerifier` as the
  webhook does, except that any verified email passes to the role check below.

``operators`` may do everything ``viewers`` may (read) and more. Missing, malformed,
forged, expired or wrong-audience credentials are :class:`AuthenticationError` (401); a
valid identity in neither list is :class:`PermissionDeniedError` (403). A present IAP
header is the one checked: a bad assertion is never rescued by a bearer token. Messages
name the header and never echo a token. IAP keys are cached like oidc.py's certificates
(``max-age`` or a TTL, fetched in a worker thread, an unknown key id refreshes at most
once a minute). :class:`LocalAuth` is for the loopback development server only.
"""

from __future__ import annotations

import asyncio
import base64
import enum
import json
import logging
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

from ..errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    PermissionDeniedError,
)
from ..gcp.oidc import (
    GOOGLE_CERTS_URL,
    MAX_TOKEN_CHARS,
    CertsFetcher,
    CertsResponse,
    OidcVerifier,
    VerifiedIdentity,
    _reason,
    fetch_certs,
)

log = logging.getLogger(__name__)

IAP_HEADER = "x-goog-iap-jwt-assertion"
AUTHORIZATION_HEADER = "authorization"
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_KEYS_URL = "https://www.gstatic.com/iap/verify/public_key-jwk"

_IAP_NAME = "X-Goog-IAP-JWT-Assertion"
_SEGMENT = r"[A-Za-z0-9_-]+"
_JWS = re.compile(rf"{_SEGMENT}\.{_SEGMENT}\.{_SEGMENT}")
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*(\d+)", re.IGNORECASE)
_IAP_AUDIENCE = re.compile(r"/projects/\d+/(?:global/backendServices/\d+|apps/[^/\s]+)")
_EMAIL = re.compile(r"[^@\s:,/]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_EMAIL_PREFIXES = ("user", "serviceaccount")


class Role(str, enum.Enum):
    """What a principal may do: ``viewer`` reads, ``operator`` also acts."""

    VIEWER = "viewer"
    OPERATOR = "operator"

    def grants(self, required: Role) -> bool:
        """True when this role may do what ``required`` may (operator includes viewer)."""
        return self is Role.OPERATOR or required is Role.VIEWER


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: its email, its role, and how it proved itself."""

    email: str
    role: Role
    via: Literal["iap", "oidc", "local"]

    def can(self, required: Role) -> bool:
        return self.role.grants(required)


@dataclass(frozen=True)
class PrincipalRule:
    """One configured principal: an exact email, or every email of a domain (lower-cased)."""

    kind: Literal["email", "domain"]
    value: str

    def matches(self, email: str) -> bool:
        lowered = email.lower()
        if self.kind == "email":
            return lowered == self.value
        local, _, domain = lowered.rpartition("@")
        return bool(local) and domain == self.value

    def __str__(self) -> str:
        return f"domain:{self.value}" if self.kind == "domain" else self.value


def parse_principals(values: Iterable[str], setting: str) -> tuple[PrincipalRule, ...]:
    """Parse ``user:EMAIL``, ``serviceAccount:EMAIL``, ``EMAIL`` and ``domain:DOMAIN``.

    Anything else (including IAM's ``group:``, ``allUsers`` and blanks) is a
    :class:`ConfigurationError` naming ``setting`` and the bad value.
    """
    if isinstance(values, str):
        raise TypeError(f"{setting}: pass a collection of principals, not one string")
    rules: dict[PrincipalRule, None] = {}
    for raw in values:
        rules[_parse_principal(raw, setting)] = None
    return tuple(rules)


def _parse_principal(raw: str, setting: str) -> PrincipalRule:
    expected = "expected user:EMAIL, serviceAccount:EMAIL, EMAIL or domain:DOMAIN"
    value = raw.strip() if isinstance(raw, str) else ""
    prefix, colon, rest = value.partition(":")
    kind = prefix.lower() if colon else ""
    if kind in _EMAIL_PREFIXES or not colon:
        email = rest if colon else value
        if _EMAIL.fullmatch(email):
            return PrincipalRule("email", email.lower())
    elif kind == "domain":
        if _DOMAIN.fullmatch(rest):
            return PrincipalRule("domain", rest.lower())
    elif kind == "group":
        raise ConfigurationError(
            f"{setting}: {raw!r} is not supported: ID tokens do not carry group membership; "
            f"{expected}"
        )
    raise ConfigurationError(f"{setting}: {raw!r} is not a principal; {expected}")


class DashboardAuth(Protocol):
    """Decides who a dashboard request comes from (headers with lower-cased keys)."""

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller, else :class:`AuthenticationError` (401) or :class:`PermissionDeniedError`."""
        ...


class LocalAuth:
    """Development only (``zenjobs dev`` on loopback): every request is a local operator."""

    principal = Principal("local developer", Role.OPERATOR, "local")

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        return self.principal


class _AnyEmail(frozenset[str]):
    """An allow-list that contains every email: the role check happens in this module."""

    def __contains__(self, item: object) -> bool:
        return True


class AnyEmailOidcVerifier(OidcVerifier):
    """:class:`OidcVerifier` for one audience that accepts any verified Google email.

    Signature, issuer, audience, expiry and ``email_verified`` are checked exactly
    as for the webhook; which emails may see the dashboard is decided by
    :class:`GoogleIdentityAuth`'s principals. (OidcVerifier has no "any email"
    mode, so its public ``allowed_emails`` is replaced by a set that contains
    everything; should that stop working, it refuses every email: fails closed.)
    """

    def __init__(
        self,
        audience: str,
        *,
        certs_url: str = GOOGLE_CERTS_URL,
        fetch: CertsFetcher = fetch_certs,
        clock_skew: int = 10,
        default_ttl: float = 3600.0,
        min_refresh_interval: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            audience,
            ["any verified email"],
            certs_url=certs_url,
            fetch=fetch,
            clock_skew=clock_skew,
            default_ttl=default_ttl,
            min_refresh_interval=min_refresh_interval,
            monotonic=monotonic,
            wall=wall,
        )
        self.allowed_emails = _AnyEmail()


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
        if not _IAP_AUDIENCE.fullmatch(audience or ""):
            raise ConfigurationError(
                f"iap_audience: {audience!r} is not an IAP audience; expected "
                "/projects/NUMBER/global/backendServices/ID or /projects/NUMBER/apps/PROJECT"
            )
        self.audience = audience
        self.keys_url = keys_url
        self._fetch = fetch
        self._clock_skew = clock_skew
        self._default_ttl = default_ttl
        self._min_refresh_interval = min_refresh_interval
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()  # refreshes run in worker threads
        self._keys: Mapping[str, str] | None = None
        self._expires_at = 0.0
        self._fetched_at = float("-inf")
        self._failed_at = float("-inf")

    async def verify(self, assertion: str) -> VerifiedIdentity:
        """The identity of one header value; 401/403 errors like the OIDC verifier."""
        value = assertion.strip()
        if not value:
            raise AuthenticationError(f"{_IAP_NAME} header is empty")
        if len(value) > MAX_TOKEN_CHARS:
            raise AuthenticationError(f"{_IAP_NAME} header is too long")
        if not _JWS.fullmatch(value):
            raise AuthenticationError(
                f"{_IAP_NAME} header must be a JWT (three base64url segments)"
            )
        from google.auth import exceptions as gexc
        from google.auth import jwt

        try:
            header = cast(Callable[[str], Mapping[str, Any]], jwt.decode_header)(value)
        except (gexc.GoogleAuthError, ValueError, TypeError):
            raise AuthenticationError(f"{_IAP_NAME} header is not a JWT") from None
        if header.get("alg") != "ES256":
            raise AuthenticationError(f"{_IAP_NAME} must be signed with ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError(f"{_IAP_NAME} has no key id")
        keys = await self._current_keys(kid)
        try:
            claims = cast(Callable[..., Mapping[str, Any]], jwt.decode)(
                value, certs=keys, audience=self.audience, clock_skew_in_seconds=self._clock_skew
            )
        except (gexc.GoogleAuthError, ValueError, TypeError) as exc:
            reason = _reason(str(exc))
            log.info("IAP assertion refused: %s", reason)
            raise AuthenticationError(f"{_IAP_NAME} refused: {reason}") from None
        self._check_times(claims)
        if claims.get("iss") != IAP_ISSUER:
            raise AuthenticationError(f"{_IAP_NAME} refused: issuer is not Identity-Aware Proxy")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise PermissionDeniedError(f"{_IAP_NAME} carries no email")
        return VerifiedIdentity(email=email, subject=str(claims.get("sub", "")), claims=claims)

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        """``nbf`` (google-auth ignores it) and ``exp`` again against our own clock."""
        now = self._wall()
        nbf, exp = claims.get("nbf"), claims.get("exp")
        for name, claim in (("nbf", nbf), ("exp", exp)):
            if claim is not None and (isinstance(claim, bool)
                                      or not isinstance(claim, (int, float))):
                raise AuthenticationError(f"{_IAP_NAME} refused: {name} is not a number")
        if nbf is not None and now + self._clock_skew < nbf:
            raise AuthenticationError(f"{_IAP_NAME} refused: token is not valid yet")
        if exp is not None and now - self._clock_skew > exp:
            raise AuthenticationError(f"{_IAP_NAME} refused: token expired")

    async def _current_keys(self, kid: str) -> Mapping[str, str]:
        keys = self._keys
        if keys is not None and self._monotonic() < self._expires_at and kid in keys:
            return keys
        return await asyncio.to_thread(self._refresh, kid)

    def _refresh(self, kid: str) -> Mapping[str, str]:
        """Fetch keys unless another thread just did (runs in a worker thread)."""
        with self._lock:
            now = self._monotonic()
            keys = self._keys
            # A known kid, or an unknown one right after a refresh (the token is bad).
            if keys is not None and now < self._expires_at and (
                kid in keys or now - self._fetched_at < self._min_refresh_interval
            ):
                return keys
            if keys is not None and now - self._failed_at < self._min_refresh_interval:
                return keys  # the endpoint failed a moment ago
            try:
                response = self._fetch(self.keys_url)
            except Exception as exc:
                self._failed_at = now
                if keys is not None:
                    log.warning("refreshing IAP keys failed, using cached ones: %s", exc)
                    return keys
                log.error("fetching IAP keys from %s failed: %s", self.keys_url, exc)
                raise BackendUnavailableError("cannot fetch IAP keys") from None
            ttl = response.max_age if response.max_age is not None else self._default_ttl
            self._keys = dict(response.certs)
            self._fetched_at = now
            self._expires_at = now + max(ttl, 0.0)
            return self._keys


def _rules(values: Iterable[str | PrincipalRule], setting: str) -> tuple[PrincipalRule, ...]:
    if isinstance(values, str):
        raise TypeError(f"{setting}: pass a collection of principals, not one string")
    items = list(values)
    parsed = parse_principals([v for v in items if isinstance(v, str)], setting)
    return tuple(dict.fromkeys([*(v for v in items if isinstance(v, PrincipalRule)), *parsed]))


class GoogleIdentityAuth:
    """Production dashboard auth: an IAP assertion or a Google ID token, then a role.

    ``viewers``/``operators`` are principal strings (see :func:`parse_principals`)
    or parsed rules. ``oidc_verifier`` (default: an :class:`AnyEmailOidcVerifier`
    for ``oidc_audience``) and ``iap_certs_fetcher`` (``{key id: PEM}``) are
    injectable so tests never touch the network; ``clock`` is the wall clock
    tokens are checked on and ``monotonic`` the key cache's clock.
    """

    def __init__(
        self,
        *,
        viewers: Iterable[str | PrincipalRule],
        operators: Iterable[str | PrincipalRule],
        oidc_audience: str | None,
        iap_audience: str | None,
        oidc_verifier: OidcVerifier | None = None,
        iap_certs_fetcher: CertsFetcher | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.viewers = _rules(viewers, "viewers")
        self.operators = _rules(operators, "operators")
        problems: list[str] = []
        if not oidc_audience and not iap_audience:
            problems.append(
                "oidc_audience (the service URL, for Authorization: Bearer ID tokens) or "
                "iap_audience (for X-Goog-IAP-JWT-Assertion) is required"
            )
        if not self.viewers and not self.operators:
            problems.append("at least one operator or viewer is required "
                            "(operators and viewers are both empty)")
        if oidc_verifier is not None and oidc_verifier.audience != oidc_audience:
            problems.append(f"oidc_verifier is for audience {oidc_verifier.audience!r}, "
                            f"not oidc_audience {oidc_audience!r}")
        if iap_audience and not _IAP_AUDIENCE.fullmatch(iap_audience):
            problems.append(
                f"iap_audience {iap_audience!r} is not /projects/NUMBER/global/backendServices/ID"
                " or /projects/NUMBER/apps/PROJECT"
            )
        if problems:
            raise ConfigurationError("dashboard auth: " + "; ".join(problems))
        self.oidc: OidcVerifier | None = None
        if oidc_audience:
            self.oidc = oidc_verifier or AnyEmailOidcVerifier(oidc_audience, wall=clock)
        self.iap: IapVerifier | None = None
        if iap_audience:
            self.iap = IapVerifier(iap_audience, fetch=iap_certs_fetcher or fetch_iap_keys,
                                   monotonic=monotonic, wall=clock)

    def role_of(self, email: str) -> Role | None:
        """The strongest role ``email`` has, or None."""
        if any(rule.matches(email) for rule in self.operators):
            return Role.OPERATOR
        if any(rule.matches(email) for rule in self.viewers):
            return Role.VIEWER
        return None

    async def authenticate(self, headers: Mapping[str, str]) -> Principal:
        assertion = headers.get(IAP_HEADER)
        if assertion is not None and self.iap is not None:
            identity = await self.iap.verify(assertion)
            return self._principal(identity.email, "iap")
        authorization = headers.get(AUTHORIZATION_HEADER)
        if authorization is not None and self.oidc is not None:
            try:
                identity = await self.oidc.verify_header(authorization)
            except (AuthenticationError, PermissionDeniedError) as exc:
                if "Authorization" in str(exc):
                    raise
                raise type(exc)(f"Authorization: Bearer token refused: {exc}") from exc
            return self._principal(identity.email, "oidc")
        raise AuthenticationError(self._expected(ignored_iap=assertion is not None))

    def _principal(self, email: str, via: Literal["iap", "oidc"]) -> Principal:
        role = self.role_of(email)
        if role is None:
            log.info("dashboard refused %s (%s): not a viewer or operator", email, via)
            raise PermissionDeniedError(f"{email} is not a dashboard viewer or operator")
        return Principal(email, role, via)

    def _expected(self, *, ignored_iap: bool) -> str:
        ways = []
        if self.iap is not None:
            ways.append(f"an {_IAP_NAME} header (Identity-Aware Proxy)")
        if self.oidc is not None:
            ways.append("an Authorization: Bearer <Google ID token> header")
        message = "no credentials: expected " + " or ".join(ways)
        if ignored_iap:
            message += f" ({_IAP_NAME} is not accepted: no IAP audience is configured)"
        return message
