"""The verifier's cache of accepted tokens: reused until ``exp`` or a certificate refresh.

Cloud Tasks presents one token on many requests, so an accepted token is not
checked again; a forged, expired or differently-certified token never rides
on that cache.
"""

from __future__ import annotations

import time

import pytest

from zenjobs.errors import AuthenticationError
from zenjobs.gcp.oidc import OidcVerifier

from .test_oidc import AUDIENCE, INVOKER, KID, CountingFetch, Key, make_key, mint


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key(KID)


class Wall:
    def __init__(self) -> None:
        self.now = time.time()  # google-auth checks the full path against the real clock

    def __call__(self) -> float:
        return self.now


def verifier_for(fetch: CountingFetch, wall: Wall, size: int = 256) -> OidcVerifier:
    return OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic,
                        wall=wall, accepted_cache_size=size)


async def test_an_accepted_token_is_served_from_the_cache(key: Key) -> None:
    fetch, wall = CountingFetch(key, max_age=300), Wall()
    verifier = verifier_for(fetch, wall)
    token = mint(key)
    first = await verifier.verify(token)
    second = await verifier.verify(token)
    assert second == first and second.email == INVOKER
    assert verifier.cache_hits == 1


async def test_a_forged_token_with_the_same_claims_is_refused(key: Key) -> None:
    fetch, wall = CountingFetch(key, max_age=300), Wall()
    verifier = verifier_for(fetch, wall)
    await verifier.verify(mint(key))
    forged = mint(make_key(KID))  # same kid and claims, another private key
    with pytest.raises(AuthenticationError):
        await verifier.verify(forged)
    with pytest.raises(AuthenticationError):
        await verifier.verify(forged)  # refusals are never cached
    assert verifier.cache_hits == 0


async def test_the_cache_ends_at_exp(key: Key) -> None:
    fetch, wall = CountingFetch(key, max_age=None), Wall()
    verifier = verifier_for(fetch, wall)
    token = mint(key, exp=int(wall.now) + 60)
    await verifier.verify(token)
    wall.now += 61  # past exp for the cache; google-auth (real clock, 10 s skew) decides next
    await verifier.verify(token)
    assert verifier.cache_hits == 0


async def test_a_certificate_refresh_ends_the_cache(key: Key) -> None:
    fetch, wall = CountingFetch(key, max_age=300), Wall()
    verifier = verifier_for(fetch, wall)
    token = mint(key)
    await verifier.verify(token)
    fetch.now = 301  # certificates expired: the token is checked against fresh ones
    await verifier.verify(token)
    assert (fetch.calls, verifier.cache_hits) == (2, 0)
    await verifier.verify(token)
    assert verifier.cache_hits == 1


async def test_the_cache_is_bounded(key: Key) -> None:
    fetch, wall = CountingFetch(key, max_age=None), Wall()
    verifier = verifier_for(fetch, wall, size=2)
    tokens = [mint(key, sub=f"subject-{i}") for i in range(3)]
    for token in tokens:
        await verifier.verify(token)
    await verifier.verify(tokens[0])  # evicted by the third: checked in full
    assert verifier.cache_hits == 0
    await verifier.verify(tokens[2])
    assert verifier.cache_hits == 1


async def test_size_zero_disables_the_cache(key: Key) -> None:
    fetch, wall = CountingFetch(key, max_age=None), Wall()
    verifier = verifier_for(fetch, wall, size=0)
    token = mint(key)
    await verifier.verify(token)
    await verifier.verify(token)
    assert verifier.cache_hits == 0
