"""How long Google's certificates are kept comes from their response's ``Cache-Control``.

Google answers ``GET /oauth2/v1/certs`` with ``Cache-Control: public,
max-age=19938, must-revalidate, no-transform`` (the number varies): the keys
may be used that long without asking again. These tests serve certificates
over real local HTTP with such headers and read them with the verifier's own
fetcher (:func:`fetch_certs`), so the header parsing and its use in the cache
are both covered; the cache's clock is injected, so no test waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zenjobs.gcp.oidc import OidcVerifier, fetch_certs
from zenjobs.testing.http import serve_app

from .test_oidc import AUDIENCE, INVOKER, KID, Key, make_key, mint

#: What Google sends, as observed (only the number changes between responses).
GOOGLE_CACHE_CONTROL = "public, max-age=19938, must-revalidate, no-transform"


@dataclass
class Certs:
    """A certificate endpoint whose ``Cache-Control`` the test sets."""

    key: Key
    cache_control: str | None = GOOGLE_CACHE_CONTROL
    requests: int = 0
    headers_sent: list[str | None] = field(default_factory=list)

    async def endpoint(self, request: Request) -> Response:
        self.requests += 1
        self.headers_sent.append(self.cache_control)
        headers = {"Cache-Control": self.cache_control} if self.cache_control is not None else {}
        return JSONResponse({self.key.kid: self.key.cert_pem}, headers=headers)


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key(KID)


@pytest.fixture(scope="module")
def served(key: Key) -> Iterator[tuple[Certs, str]]:
    certs = Certs(key)
    with serve_app(Starlette(routes=[Route("/certs", certs.endpoint)])) as base_url:
        yield certs, f"{base_url}/certs"


@pytest.fixture
def certs(served: tuple[Certs, str], key: Key) -> Certs:
    server, _ = served
    server.cache_control, server.requests = GOOGLE_CACHE_CONTROL, 0
    server.headers_sent.clear()
    return server


@pytest.fixture
def url(served: tuple[Certs, str]) -> str:
    return served[1]


@pytest.mark.parametrize(("cache_control", "max_age"), [
    (GOOGLE_CACHE_CONTROL, 19938.0),
    ("max-age=300", 300.0),
    ("no-transform,max-age=300", 300.0),  # no space after the comma
    ("public,  max-age = 300 ,must-revalidate", 300.0),  # spaces around '='
    ("Public, MAX-AGE=300", 300.0),  # directive names are case-insensitive
    ("s-maxage=7, max-age=300", 300.0),  # the shared-cache directive is not ours
    ("max-age=0", 0.0),
    ("max-age=2147483648", 2147483648.0),  # beyond 32 bits: still a number of seconds
    ("public, must-revalidate", None),  # no max-age: the verifier's default applies
    ("max-age=soon", None),
    ("x-max-age=300", None),  # another directive that merely ends in max-age
    (None, None),  # no Cache-Control at all
])
def test_max_age_is_read_from_cache_control(
        certs: Certs, url: str, key: Key, cache_control: str | None,
        max_age: float | None) -> None:
    certs.cache_control = cache_control
    response = fetch_certs(url)
    assert certs.headers_sent == [cache_control]
    assert response.max_age == max_age
    assert dict(response.certs) == {key.kid: key.cert_pem}


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_keys_are_kept_exactly_as_long_as_max_age_says(
        certs: Certs, url: str, key: Key) -> None:
    clock = Monotonic()
    # Without the cache of accepted tokens, every verify consults the certificates.
    verifier = OidcVerifier(AUDIENCE, [INVOKER], certs_url=url, monotonic=clock,
                            accepted_cache_size=0, default_ttl=60.0)
    assert (await verifier.verify(mint(key))).email == INVOKER
    assert certs.requests == 1
    clock.now += 19937.0  # far past the default TTL, one second short of max-age
    await verifier.verify(mint(key))
    assert certs.requests == 1
    clock.now += 1.0  # max-age reached: fetched again before the token is checked
    await verifier.verify(mint(key))
    assert certs.requests == 2


async def test_without_max_age_the_default_ttl_applies(
        certs: Certs, url: str, key: Key) -> None:
    certs.cache_control = "public, must-revalidate"
    clock = Monotonic()
    verifier = OidcVerifier(AUDIENCE, [INVOKER], certs_url=url, monotonic=clock,
                            accepted_cache_size=0, default_ttl=600.0)
    await verifier.verify(mint(key))
    clock.now += 599.0
    await verifier.verify(mint(key))
    assert certs.requests == 1
    clock.now += 1.0
    await verifier.verify(mint(key))
    assert certs.requests == 2
