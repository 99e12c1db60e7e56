"""Review findings: ``nbf``, a required key id, no fetch storm in an outage, Content-Length."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import Future
from typing import Any

import httpx
import pytest

from zenjobs.errors import AuthenticationError
from zenjobs.gcp.oidc import CertsResponse, OidcVerifier
from zenjobs.runtime.webhook import create_app
from zenjobs.testing.http import serve_app

from .doubles import RecordingHandler
from .test_oidc import AUDIENCE, INVOKER, KID, CountingFetch, Key, make_key, mint


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key(KID)


async def test_a_token_not_yet_valid_by_nbf_is_refused(key: Key) -> None:
    fetch = CountingFetch(key, max_age=300)
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic)
    now = int(time.time())
    with pytest.raises(AuthenticationError, match="not valid yet"):
        await verifier.verify(mint(key, nbf=now + 3600))
    assert (await verifier.verify(mint(key, nbf=now - 5))).email == INVOKER


async def test_a_token_without_a_key_id_is_refused_before_any_fetch(key: Key) -> None:
    fetch = CountingFetch(key, max_age=300)
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic)
    with pytest.raises(AuthenticationError, match="key id"):
        await verifier.verify(mint(key, header={"kid": None}))
    assert fetch.calls == 0


async def test_a_failed_refresh_is_not_retried_on_every_request(key: Key) -> None:
    fetch = CountingFetch(key, max_age=300)
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic,
                            min_refresh_interval=60)
    await verifier.verify(mint(key))
    fetch.now, fetch.fail = 400.0, True  # certificates expired, endpoint down
    await verifier.verify(mint(key))  # stale certificates still serve
    assert fetch.calls == 2
    for step in range(1, 20):
        fetch.now = 400.0 + step
        await verifier.verify(mint(key))
    assert fetch.calls == 2  # one attempt per min_refresh_interval, not one per request
    fetch.now, fetch.fail = 461.0, False
    await verifier.verify(mint(key))
    assert fetch.calls == 3


async def test_a_non_ascii_digit_content_length_is_400_not_500() -> None:
    """``'²'.isdigit()`` is true but ``int('²')`` fails; servers that pass it on must get a 400."""
    app = create_app(RecordingHandler())
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/_zenjobs/run/send_email",
        "raw_path": b"/_zenjobs/run/send_email", "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"\xb2")],
        "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1),
    }
    inbox: list[dict[str, Any]] = [{"type": "http.request", "body": b"{}", "more_body": False}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"]["code"] == "invalid_request"


class ChattyHandler(RecordingHandler):
    async def health(self) -> Mapping[str, Any]:
        return {"status": "ok", "instance": "i-123", "running": ["send_payroll"], "jobs": 7}


def test_production_health_says_only_status_to_anyone(key: Key) -> None:
    """Health needs no token, so with a verifier it must not name instances or running jobs."""
    fetch = CountingFetch(key, max_age=300)
    secured = create_app(ChattyHandler(), verifier=OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch))
    with serve_app(secured) as base_url, httpx.Client(base_url=base_url) as http:
        assert http.get("/_zenjobs/health").json() == {"status": "ok"}
        bad = http.get("/_zenjobs/health", headers={"Authorization": "Bearer x.y.z"})
        assert bad.status_code == 200 and bad.json() == {"status": "ok"}
    open_app = create_app(ChattyHandler())
    with serve_app(open_app) as base_url, httpx.Client(base_url=base_url) as http:
        assert http.get("/_zenjobs/health").json()["running"] == ["send_payroll"]  # development
    assert fetch.calls == 0


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs ``to_thread`` work at submit time, so interleavings are deterministic."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine
            future.set_exception(exc)
        return future


async def test_a_token_is_cached_against_the_certificates_that_verified_it(key: Key) -> None:
    """A refresh that lands while a verification is in flight must not vouch for its token."""
    asyncio.get_running_loop().set_default_executor(InlineExecutor())
    rotated = make_key("test-key-2")
    fetch = CountingFetch(key, max_age=300)

    def rotate_after_first_fetch(url: str) -> CertsResponse:
        response = CountingFetch.__call__(fetch, url)
        if fetch.calls == 1:  # Google then drops `key` and publishes `rotated`
            fetch.now += 61
            fetch.certs = {rotated.kid: rotated.cert_pem}
        return response

    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=rotate_after_first_fetch,
                            monotonic=fetch.monotonic, min_refresh_interval=60)
    old_token = mint(key)
    await asyncio.gather(verifier.verify(old_token), verifier.verify(mint(rotated)))
    assert fetch.calls == 2
    with pytest.raises(AuthenticationError):  # `key` is gone from the current certificates
        await verifier.verify(old_token)


@pytest.mark.parametrize("header", [
    "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "Bearer a.b", "Bearer a.b.c.d", "Bearer a..c",
    "Bearer a.b.c extra", "Bearer a.b.\u00e9", "Token a.b.c", "Bearer\ta.b.c",
    "Bearer " + "a" * 20_000 + ".b.c",
])
async def test_an_authorization_header_that_is_not_bearer_and_a_jwt_is_refused_unread(
        key: Key, header: str) -> None:
    fetch = CountingFetch(key, max_age=300)
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic)
    with pytest.raises(AuthenticationError):
        await verifier.verify_header(header)
    assert fetch.calls == 0  # refused by its form: no decoding, no certificate fetch


def test_a_refused_token_names_the_authorization_header(key: Key) -> None:
    fetch = CountingFetch(key, max_age=300)
    verifier = OidcVerifier(AUDIENCE, [INVOKER], fetch=fetch, monotonic=fetch.monotonic)
    handler = RecordingHandler()
    with serve_app(create_app(handler, verifier=verifier)) as base_url:
        response = httpx.post(f"{base_url}/_zenjobs/master", headers={"Authorization": "x"},
                              trust_env=False)
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"
    assert [(r.status, r.field) for r in handler.rejections] == [(401, "Authorization")]
    assert handler.ticks == []
