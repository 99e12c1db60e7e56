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

import enum
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import (
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
)
from ..gcp.oidc import (
    CertsFetcher,
    OidcVerifier,
)
from .identity import IAP_AUDIENCE_PATTERN, IAP_HEADER_NAME
from .identity import IAP_ISSUER as IAP_ISSUER
from .identity import IAP_KEYS_URL as IAP_KEYS_URL
from .identity import AnyEmailOidcVerifier as AnyEmailOidcVerifier
from .identity import IapVerifier as IapVerifier
from .identity import fetch_iap_keys as fetch_iap_keys
from .identity import jwks_to_pem as jwks_to_pem

log = logging.getLogger(__name__)

IAP_HEADER = "x-goog-iap-jwt-assertion"
AUTHORIZATION_HEADER = "authorization"

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
        if iap_audience and not IAP_AUDIENCE_PATTERN.fullmatch(iap_audience):
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
            ways.append(f"an {IAP_HEADER_NAME} header (Identity-Aware Proxy)")
        if self.oidc is not None:
            ways.append("an Authorization: Bearer <Google ID token> header")
        message = "no credentials: expected " + " or ".join(ways)
        if ignored_iap:
            message += f" ({IAP_HEADER_NAME} is not accepted: no IAP audience is configured)"
        return message
