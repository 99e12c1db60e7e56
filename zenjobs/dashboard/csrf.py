"""CSRF protection for the dashboard's actions: same-origin check plus a double-submit token.

Every mutating action is a POST. A browser signed in through IAP carries a
cookie another site could make it send, so each POST must prove it came from a
dashboard page:

* the ``Origin`` header, when the browser sends one (all current browsers do on
  POST), names this host, and ``Sec-Fetch-Site``, when sent, is ``same-origin``;
* the form's ``csrf`` field equals the ``zenjobs_csrf`` cookie, a random value
  the dashboard set (``SameSite=Strict``, ``HttpOnly``, scoped to the
  dashboard's path). Another site can neither read the cookie nor set it.

Stateless on purpose: any Cloud Run instance can check any page's token, with no
shared secret to configure.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "zenjobs_csrf"
FIELD = "csrf"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


class CsrfError(Exception):
    """The POST did not come from a dashboard page (answered 403)."""


def token_for(request: Request) -> tuple[str, bool]:
    """The token pages embed: the request's cookie, or a new one (True: set the cookie)."""
    value = request.cookies.get(COOKIE, "")
    if _TOKEN.fullmatch(value):
        return value, False
    return secrets.token_urlsafe(32), True


def set_cookie(response: Response, token: str, request: Request) -> None:
    path = request.scope.get("root_path", "") or "/"
    secure = request.url.scheme == "https" or request.headers.get(
        "x-forwarded-proto", "").lower() == "https"
    response.set_cookie(COOKIE, token, path=path, httponly=True, samesite="strict",
                        secure=secure)


def check(request: Request, form: Mapping[str, object]) -> None:
    """Raise :class:`CsrfError` unless the POST is same-origin and carries the cookie's token."""
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            raise CsrfError("the request came from another site (Origin does not match Host)")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfError(f"the request came from another site (Sec-Fetch-Site: {site[:20]})")
    cookie = request.cookies.get(COOKIE, "")
    sent = form.get(FIELD)
    if not isinstance(sent, str) or not _TOKEN.fullmatch(cookie) or not hmac.compare_digest(
            cookie.encode(), sent.encode()):
        raise CsrfError("missing or wrong CSRF token: reload the page and try again")
