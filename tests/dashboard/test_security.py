"""The dashboard's security properties, proved over the real ASGI app (``executor.app``).

* sign-in and roles in production: 401 without or with a bad Google ID token, 403 for an
  email in neither list or a viewer's action, operators' actions recorded with their email;
* the production dashboard is never served without principals, and is off unless given;
* CSRF: every action needs the cookie's token in the form and a same-origin request;
* hostile input (query parameters, path parameters, form bodies) answers 4xx naming the
  field or header, never 500, and writes nothing;
* pages carry CSP, ``nosniff`` and ``no-store``, and escape what jobs and users wrote.

ID tokens are RS256 tokens minted here around ``time.time()`` (google-auth checks
``iat``/``exp`` on the real clock); the keys are served by an injected fetcher, never
the network. Runs the pages show (one dead, one succeeded) are made by a development
executor on the same in-memory store before the production executor opens it.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from zenjobs import JobContext, JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.dashboard.auth import AnyEmailOidcVerifier, GoogleIdentityAuth
from zenjobs.dashboard.forms import MAX_REPLAY_SELECTION
from zenjobs.errors import ConfigurationError
from zenjobs.gcp.oidc import CertsResponse, OidcVerifier
from zenjobs.queues.simulated import AsgiPusher, SimulatedCloudTasks
from zenjobs.stores.memory import MemoryJobStore
from zenjobs.stores.records import FieldChange, RunStatus
from zenjobs.testing import MemoryTelemetry, VirtualClock, run_until_idle

UI = "/_zenjobs/ui"
BASE_URL = "http://127.0.0.1:8080"
SERVICE_URL = "https://svc-abc123-ew.a.run.app"
INVOKER = "zenjobs-invoker@proj.iam.gserviceaccount.com"
KID = "dash-key-1"
OPERATOR = "ops@example.com"
VIEWER = "viewer@example.com"
STRANGER = "stranger@elsewhere.example"
SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


# -- the service under test ------------------------------------------------------------------


def build_registry() -> ZenJobs:
    jobs = ZenJobs()

    @jobs.job("greet", type=JobType.ENDPOINT,
              description="Greets a subscriber <script>alert('description')</script>")
    async def greet(ctx: JobContext) -> None:
        return None

    @jobs.job("explode", type=JobType.ENDPOINT, max_retries=0,
              description="Always fails, so a dead run exists.")
    async def explode(ctx: JobContext) -> None:
        raise RuntimeError(f"boom {SCRIPT}")

    @jobs.job("nightly", type=JobType.SCHEDULED, cron="30 2 * * *", timezone="UTC")
    async def nightly(ctx: JobContext) -> None:
        return None

    @jobs.job("hourly", type=JobType.PERIODIC, interval=timedelta(hours=1))
    async def hourly(ctx: JobContext) -> None:
        return None

    return jobs


@dataclass(frozen=True)
class Runs:
    dead: str  # an execution of "explode" whose retries are exhausted
    succeeded: str  # an execution of "greet"


async def seed_runs(store: MemoryJobStore, clock: VirtualClock) -> Runs:
    """One dead and one succeeded run, made by a development executor on ``store``."""
    dev = ZenJobsExecutor.development(build_registry(), store=store, clock=clock,
                                      telemetry=MemoryTelemetry(), loop_lag_threshold=None)
    await dev.start()
    dead = await dev.trigger("explode", {"n": 1})
    succeeded = await dev.trigger("greet", {"name": SCRIPT})
    await run_until_idle(dev)
    await dev.shutdown()  # MemoryJobStore.close releases nothing: the runs stay
    assert (await store.get_run("explode", dead)).status is RunStatus.DEAD  # type: ignore[union-attr]
    return Runs(dead, succeeded)


def client(executor: ZenJobsExecutor) -> httpx.AsyncClient:
    """An HTTP client over the executor's ASGI app; a server error comes back as a 500."""
    transport = httpx.ASGITransport(app=executor.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL)


State = tuple[Any, ...]


async def snapshot(executor: ZenJobsExecutor) -> State:
    """Everything an action could write: job documents, runs, edits, queued tasks."""
    store = executor.store
    ids = [d.id for d in executor.jobs.descriptors]
    jobs = await store.get_jobs(ids)
    runs = {i: await store.list_runs(i, 1000) for i in ids}
    edits = {i: await store.list_edits(i, 100) for i in ids}
    pending = executor.queue.pending()  # type: ignore[attr-defined]
    return jobs, runs, edits, pending


def ops_events(executor: ZenJobsExecutor) -> list[str]:
    events = executor.dashboard.events.events()  # type: ignore[union-attr]
    return [e.name for e in events if e.name.startswith("ops.")]


async def csrf_token(http: httpx.AsyncClient, headers: Mapping[str, str] | None = None) -> str:
    """The token a dashboard page embeds (the GET also sets the client's cookie)."""
    page = await http.get(f"{UI}/jobs/greet", headers=headers)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match is not None
    return match.group(1)


# -- tokens ----------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(private: rsa.RSAPrivateKey, email: str, **claims: Any) -> str:
    """A Google ID token (RS256) for the service URL; ``claims`` override."""
    now = int(time.time())
    payload = {"iss": "https://accounts.google.com", "aud": SERVICE_URL, "email": email,
               "email_verified": True, "sub": "1", "iat": now, "exp": now + 3600, **claims}
    head = {"alg": "RS256", "kid": KID, "typ": "JWT"}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Keys:
    signing: rsa.RSAPrivateKey
    forged: rsa.RSAPrivateKey  # another key published under the same key id by nobody

    def fetch(self, url: str) -> CertsResponse:
        pem = self.signing.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return CertsResponse({KID: pem}, 300)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys(rsa.generate_private_key(public_exponent=65537, key_size=2048),
                rsa.generate_private_key(public_exponent=65537, key_size=2048))


def identity_auth(keys: Keys) -> GoogleIdentityAuth:
    return GoogleIdentityAuth(
        viewers=[f"user:{VIEWER}", "domain:readers.example.org"],
        operators=[f"user:{OPERATOR}"],
        oidc_audience=SERVICE_URL, iap_audience=None,
        oidc_verifier=AnyEmailOidcVerifier(SERVICE_URL, fetch=keys.fetch))


def production(keys: Keys, store: MemoryJobStore, clock: VirtualClock,
               telemetry: MemoryTelemetry | None,
               dashboard: Dashboard | None) -> ZenJobsExecutor:
    executor: ZenJobsExecutor | None = None

    async def own_app(scope: Any, receive: Any, send: Any) -> None:
        assert executor is not None
        await executor.app(scope, receive, send)

    executor = ZenJobsExecutor.production(
        build_registry(), project="zj-dashboard", service_url=SERVICE_URL,
        invoker_service_account=INVOKER, store=store,
        queue=SimulatedCloudTasks(clock, AsgiPusher(own_app)), clock=clock,
        telemetry=telemetry, verifier=OidcVerifier(SERVICE_URL, [INVOKER], fetch=keys.fetch),
        loop_lag_threshold=None, environ={}, dashboard=dashboard)
    return executor


@dataclass
class Prod:
    executor: ZenJobsExecutor
    http: httpx.AsyncClient
    telemetry: MemoryTelemetry
    runs: Runs
    keys: Keys

    def token(self, email: str) -> dict[str, str]:
        return bearer(mint(self.keys.signing, email))


@pytest.fixture
async def prod(keys: Keys) -> AsyncIterator[Prod]:
    clock, store, telemetry = VirtualClock(), MemoryJobStore(), MemoryTelemetry()
    runs = await seed_runs(store, clock)
    executor = production(keys, store, clock, telemetry, Dashboard(auth=identity_auth(keys)))
    await executor.start()
    async with client(executor) as http:
        yield Prod(executor, http, telemetry, runs, keys)
    await executor.shutdown()


@dataclass
class Dev:
    executor: ZenJobsExecutor
    http: httpx.AsyncClient
    runs: Runs


@pytest.fixture
async def dev() -> AsyncIterator[Dev]:
    """A development executor (the dashboard signs everyone in as a local operator)."""
    clock, store = VirtualClock(), MemoryJobStore()
    runs = await seed_runs(store, clock)
    executor = ZenJobsExecutor.development(build_registry(), store=store, clock=clock,
                                           telemetry=MemoryTelemetry(),
                                           loop_lag_threshold=None, dashboard=Dashboard())
    await executor.start()
    async with client(executor) as http:
        yield Dev(executor, http, runs)
    await executor.shutdown()


def actions(runs: Runs) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every POST action: (path, form fields besides the CSRF token)."""
    return {
        "enable": (f"{UI}/jobs/nightly/enable", {}),
        "disable": (f"{UI}/jobs/nightly/disable", {}),
        "trigger": (f"{UI}/jobs/greet/trigger", {"payload": '{"n": 2}'}),
        "schedule": (f"{UI}/jobs/nightly/schedule", {"cron": "0 4 * * *", "timezone": "UTC"}),
        "replay one": (f"{UI}/jobs/explode/runs/{runs.dead}/replay", {}),
        "replay selected": (f"{UI}/dead/replay", {"execution": [f"explode/{runs.dead}"]}),
    }


# -- 1. sign-in and roles in production ------------------------------------------------------


async def test_no_credentials_is_401_with_a_bearer_challenge(prod: Prod) -> None:
    before = await snapshot(prod.executor)
    page = await prod.http.get(f"{UI}/")
    assert page.status_code == 401, page.text
    assert page.headers["WWW-Authenticate"] == "Bearer"
    assert "Authorization: Bearer" in page.text  # names the header it expected
    action = await prod.http.post(f"{UI}/jobs/nightly/disable", data={"csrf": "x" * 43})
    assert action.status_code == 401, action.text
    assert action.headers["WWW-Authenticate"] == "Bearer"
    events = await prod.http.get(f"{UI}/events")
    assert events.status_code == 401
    assert await snapshot(prod.executor) == before


@pytest.mark.parametrize(("case", "status", "reason"), [
    ("forged", 401, "signature is invalid"),
    ("expired", 401, "expired"),
    ("wrong audience", 401, "audience"),
    ("unverified email", 403, "not verified"),
    ("not a jwt", 401, "three base64url segments"),
    ("basic scheme", 401, "three base64url segments"),
    ("unconfigured IAP header", 401, "X-Goog-IAP-JWT-Assertion is not accepted"),
])
async def test_bad_credentials_are_refused_and_never_echoed(prod: Prod, case: str, status: int,
                                                            reason: str) -> None:
    now = int(time.time())
    credentials = {
        # Same key id, another key: the signature does not verify.
        "forged": bearer(mint(prod.keys.forged, OPERATOR)),
        "expired": bearer(mint(prod.keys.signing, OPERATOR, iat=now - 7200, exp=now - 3600)),
        "wrong audience": bearer(mint(prod.keys.signing, OPERATOR, aud="https://other.example")),
        "unverified email": bearer(mint(prod.keys.signing, OPERATOR, email_verified=False)),
        "not a jwt": bearer("not-a-token"),
        "basic scheme": {"Authorization": "Basic b3BzOnNlY3JldA=="},
        # A valid-looking IAP assertion where no IAP audience is configured: not accepted.
        "unconfigured IAP header": {"X-Goog-IAP-JWT-Assertion": mint(prod.keys.signing,
                                                                     OPERATOR)},
    }[case]
    secret = next(iter(credentials.values())).split()[-1]
    before = await snapshot(prod.executor)
    for response in (await prod.http.get(f"{UI}/", headers=credentials),
                     await prod.http.post(f"{UI}/jobs/nightly/disable", headers=credentials,
                                          data={"csrf": "x" * 43})):
        assert response.status_code == status, response.text
        if status == 401:
            assert response.headers["WWW-Authenticate"] == "Bearer"
        assert reason in response.text
        assert "Authorization" in response.text  # names the header
        assert secret not in response.text
    assert await snapshot(prod.executor) == before


async def test_a_valid_token_of_an_unlisted_email_is_403(prod: Prod) -> None:
    before = await snapshot(prod.executor)
    for path in (f"{UI}/", f"{UI}/jobs/greet", f"{UI}/dead", f"{UI}/events"):
        response = await prod.http.get(path, headers=prod.token(STRANGER))
        assert response.status_code == 403, (path, response.text)
        assert STRANGER in response.text
    action = await prod.http.post(f"{UI}/jobs/nightly/disable", headers=prod.token(STRANGER),
                                  data={"csrf": "x" * 43})
    assert action.status_code == 403
    # A domain principal admits the domain's emails and no other.
    ok = await prod.http.get(f"{UI}/", headers=prod.token("carol@readers.example.org"))
    assert ok.status_code == 200
    assert await snapshot(prod.executor) == before


async def test_a_viewer_sees_every_page_but_every_action_is_403(prod: Prod) -> None:
    viewer = prod.token(VIEWER)
    runs = prod.runs
    for path in (f"{UI}/", f"{UI}/jobs/greet", f"{UI}/jobs/explode/runs/{runs.dead}",
                 f"{UI}/dead", f"{UI}/ticks",
                 f"{UI}/jobs/nightly/preview?cron=0+3+*+*+*&timezone=UTC"):
        page = await prod.http.get(path, headers=viewer)
        assert page.status_code == 200, (path, page.text)
        assert f"{VIEWER} (viewer)" in page.text or path.endswith("timezone=UTC")
    token = await csrf_token(prod.http, viewer)  # a valid token: the role alone refuses
    before = await snapshot(prod.executor)
    for name, (path, form) in actions(runs).items():
        response = await prod.http.post(path, headers=viewer, data={"csrf": token, **form})
        assert response.status_code == 403, (name, response.text)
        assert "operator role" in response.text, name
    assert await snapshot(prod.executor) == before
    assert ops_events(prod.executor) == []
    assert [e for e in prod.telemetry.names() if e.startswith("ops.")] == []


async def test_an_operators_edits_are_recorded_with_their_email(prod: Prod) -> None:
    operator = prod.token(OPERATOR)
    store = prod.executor.store
    token = await csrf_token(prod.http, operator)
    steps = [
        ("disable", f"{UI}/jobs/nightly/disable", {}, "enabled", True, False),
        ("enable", f"{UI}/jobs/nightly/enable", {}, "enabled", False, True),
        ("set", f"{UI}/jobs/nightly/schedule", {"cron": "0 4 * * *", "timezone": "UTC"},
         "cron", "30 2 * * *", "0 4 * * *"),
    ]
    for command, path, form, field, old, new in steps:
        response = await prod.http.post(path, headers=operator, data={"csrf": token, **form})
        assert response.status_code == 303, (command, response.text)
        assert response.headers["location"].startswith(f"{UI}/jobs/nightly?done=")
        edit = (await store.list_edits("nightly", 1))[0]
        assert (edit.actor, edit.command) == (OPERATOR, command)
        assert edit.changes == (FieldChange(field, old, new),)
        event = prod.telemetry.assert_emitted("ops.edited", job_id="nightly", command=command)
        assert event.fields["actor"] == OPERATOR
        assert event.fields["changes"] == [{"field": field, "before": old, "after": new}]
    record = await store.get_job("nightly")
    assert record is not None and record.config.cron == "0 4 * * *" and record.config.enabled
    # The job page shows who made the edit.
    page = await prod.http.get(f"{UI}/jobs/nightly", headers=operator)
    assert f"ops edit by {OPERATOR} (set)" in page.text


async def test_an_operators_trigger_and_replays_name_them(prod: Prod) -> None:
    operator = prod.token(OPERATOR)
    token = await csrf_token(prod.http, operator)
    runs = prod.runs
    trigger = await prod.http.post(f"{UI}/jobs/greet/trigger", headers=operator,
                                   data={"csrf": token, "payload": '{"n": 2}'})
    assert trigger.status_code == 303, trigger.text
    event = prod.telemetry.assert_emitted("ops.triggered", job_id="greet", actor=OPERATOR)
    execution = event.fields["execution_id"]
    assert trigger.headers["location"] == f"{UI}/jobs/greet/runs/{execution}?done=triggered"
    run = await prod.executor.store.get_run("greet", execution)
    assert run is not None and run.payload == {"n": 2}

    replay = await prod.http.post(f"{UI}/jobs/explode/runs/{runs.dead}/replay",
                                  headers=operator, data={"csrf": token})
    assert replay.status_code == 303, replay.text
    prod.telemetry.assert_emitted("ops.replayed", execution_id=runs.dead, actor=OPERATOR,
                                  attempt=2)
    # Replaying it again from the dead page re-sends the same attempt's task (same name,
    # deduplicated by the queue), and names the operator again.
    again = await prod.http.post(f"{UI}/dead/replay", headers=operator,
                                 data={"csrf": token, "execution": f"explode/{runs.dead}"})
    assert again.status_code == 200
    assert re.search(rf">{runs.dead}</a>: replaying</li>", again.text), again.text
    assert len(prod.telemetry.of("ops.replayed", actor=OPERATOR)) == 2
    assert prod.executor.queue.pending() == 2  # type: ignore[attr-defined]


# -- 2. production configuration -------------------------------------------------------------


async def test_a_production_dashboard_without_principals_is_refused(keys: Keys) -> None:
    executor = production(keys, MemoryJobStore(), VirtualClock(), None, Dashboard())
    with pytest.raises(ConfigurationError, match="needs principals"):
        _ = executor.app
    with pytest.raises(ConfigurationError, match="group"):
        _ = production(keys, MemoryJobStore(), VirtualClock(), None,
                       Dashboard(operators=["group:ops@example.com"])).app


async def test_a_production_dashboard_with_principals_still_requires_sign_in(
        keys: Keys) -> None:
    executor = production(keys, MemoryJobStore(), VirtualClock(), None,
                          Dashboard(operators=[f"user:{OPERATOR}"]))
    await executor.start()
    async with client(executor) as http:
        response = await http.get(f"{UI}/")
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    await executor.shutdown()


async def test_production_serves_no_dashboard_unless_given_one(keys: Keys) -> None:
    executor = production(keys, MemoryJobStore(), VirtualClock(), None, None)
    await executor.start()
    async with client(executor) as http:
        for path in (f"{UI}/", f"{UI}/jobs/greet", f"{UI}/static/app.css", f"{UI}/events"):
            response = await http.get(path, headers=bearer(mint(keys.signing, OPERATOR)))
            assert response.status_code == 404, path
            assert "<html" not in response.text
        assert (await http.get("/_zenjobs/health")).status_code == 200
    await executor.shutdown()


# -- 3. CSRF ---------------------------------------------------------------------------------


async def test_the_csrf_cookie_is_httponly_strict_and_scoped_to_the_dashboard(
        prod: Prod) -> None:
    page = await prod.http.get(f"{UI}/jobs/greet", headers=prod.token(VIEWER))
    cookie = page.headers["set-cookie"]
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2]
                  for part in cookie.split(";")[1:]}
    assert cookie.startswith("zenjobs_csrf=")
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "strict"
    assert attributes["path"] == UI
    assert "secure" not in attributes  # plain http here; https below
    token = cookie.split(";")[0].partition("=")[2]
    assert f'name="csrf" value="{token}"' in page.text
    # The token stays the same while the cookie is held.
    again = await prod.http.get(f"{UI}/dead", headers=prod.token(VIEWER))
    assert "set-cookie" not in again.headers
    assert f'name="csrf" value="{token}"' in again.text
    # Behind Cloud Run's TLS termination the cookie is Secure.
    async with client(prod.executor) as fresh:
        secure = await fresh.get(f"{UI}/", headers={**prod.token(VIEWER),
                                                     "X-Forwarded-Proto": "https"})
    assert "secure" in secure.headers["set-cookie"].lower()


async def test_actions_without_a_matching_same_origin_token_are_403(prod: Prod) -> None:
    operator = prod.token(OPERATOR)
    token = await csrf_token(prod.http, operator)
    other = "A" * 43  # well-formed, but not the cookie's
    path = f"{UI}/jobs/nightly/disable"
    before = await snapshot(prod.executor)
    cases: dict[str, tuple[dict[str, str], dict[str, str], bool]] = {
        # name: (extra headers, form, send the cookie)
        "no cookie, no field": ({}, {}, False),
        "no field": ({}, {}, True),
        "field without cookie": ({}, {"csrf": token}, False),
        "mismatched field": ({}, {"csrf": other}, True),
        "malformed field": ({}, {"csrf": token[:-1]}, True),
        "another site's Origin": ({"Origin": "https://evil.example"}, {"csrf": token}, True),
        "opaque Origin": ({"Origin": "null"}, {"csrf": token}, True),
        "cross-site fetch": ({"Sec-Fetch-Site": "cross-site"}, {"csrf": token}, True),
        "same-site fetch": ({"Sec-Fetch-Site": "same-site"}, {"csrf": token}, True),
    }
    for name, (headers, form, with_cookie) in cases.items():
        async with client(prod.executor) as http:
            if with_cookie:
                http.cookies.set("zenjobs_csrf", token, path=UI)
            # A filler field keeps every body a form (an empty one has no Content-Type).
            response = await http.post(path, headers={**operator, **headers},
                                       data={"filler": "1", **form})
        assert response.status_code == 403, (name, response.text)
        assert ("CSRF" in response.text or "Origin" in response.text
                or "Sec-Fetch-Site" in response.text), (name, response.text)
        assert await snapshot(prod.executor) == before, name
    assert ops_events(prod.executor) == []
    # The control: the same request from the dashboard's own page goes through.
    ok = await prod.http.post(path, headers={**operator, "Origin": BASE_URL,
                                             "Sec-Fetch-Site": "same-origin"},
                              data={"csrf": token})
    assert ok.status_code == 303, ok.text
    assert await snapshot(prod.executor) != before


# -- 4. hostile input ------------------------------------------------------------------------

#: Text httpx can put in a URL (no lone surrogates), short enough to stay readable.
hostile_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
JOBS_PARAMS = ("q", "type", "status", "sort", "order", "page", "before")


def assert_refusal_names(response: httpx.Response, names: tuple[str, ...]) -> None:
    """A 400 plain-text answer that begins with one of ``names`` (the field at fault)."""
    assert response.headers["content-type"].startswith("text/plain")
    assert any(response.text.startswith(f"400: {name}:") for name in names), response.text


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=st.dictionaries(st.sampled_from(JOBS_PARAMS), hostile_text, max_size=4))
@example(params={"page": "0"})
@example(params={"page": "100001", "q": "x"})
@example(params={"q": "a" * 201})
@example(params={"q": "\x00"})
@example(params={"sort": "next", "order": "desc", "status": "failing"})
@example(params={"type": "<script>", "before": "nonsense"})
async def test_the_jobs_page_answers_200_or_400_for_any_query(
        dev: Dev, params: dict[str, str]) -> None:
    response = await dev.http.get(f"{UI}/", params=params)
    assert response.status_code in (200, 400), (params, response.text)
    if response.status_code == 400:
        assert_refusal_names(response, tuple(params))


#: A cursor this dashboard could have written, for any in-range instant and any ids.
cursors = st.builds(
    lambda instant, job, execution: f"{instant.isoformat()}|{job}|{execution}",
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                 timezones=st.timezones()),
    st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(job=st.one_of(hostile_text, st.sampled_from(["", "explode", "greet", "nope"])),
       before=st.one_of(hostile_text, cursors))
@example(job="explode", before="")
@example(job="BAD", before="")
@example(job="", before="2026-01-05T09:00:00+00:00|explode|x|y")
@example(job="", before="2026-01-05T09:00:00|explode|x")  # naive instant
async def test_the_dead_page_answers_200_or_400_for_any_job_and_cursor(
        dev: Dev, job: str, before: str) -> None:
    response = await dev.http.get(f"{UI}/dead", params={"job": job, "before": before})
    assert response.status_code in (200, 400), (job, before, response.text)
    if response.status_code == 400:
        assert_refusal_names(response, ("job", "before"))


async def test_hostile_queries_write_nothing(dev: Dev) -> None:
    before = await snapshot(dev.executor)
    for params in ({"q": SCRIPT}, {"page": "-1"}, {"sort": "x' OR 1=1"}, {"status": "dead"}):
        await dev.http.get(f"{UI}/", params=params)
    await dev.http.get(f"{UI}/dead", params={"job": "explode", "before": "a|b|c"})
    assert await snapshot(dev.executor) == before


@pytest.mark.parametrize("page", ["²", "①", "1" * 5000])
async def test_a_page_number_of_unicode_digits_is_400(dev: Dev, page: str) -> None:
    response = await dev.http.get(f"{UI}/", params={"page": page})
    assert response.status_code == 400, response.text
    assert_refusal_names(response, ("page",))


@pytest.mark.parametrize("path", [f"{UI}/dead", f"{UI}/jobs/explode"])
@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_a_cursor_out_of_the_instant_range_is_400(dev: Dev, path: str,
                                                       instant: str) -> None:
    response = await dev.http.get(path, params={"before": f"{instant}|explode|x"})
    assert response.status_code == 400, response.text
    assert_refusal_names(response, ("before",))


@pytest.mark.parametrize(("path", "status", "field"), [
    (f"{UI}/jobs/Bad-Id", 400, "job"),
    (f"{UI}/jobs/{quote('<script>', safe='')}", 400, "job"),
    (f"{UI}/jobs/{'a' * 64}", 400, "job"),
    (f"{UI}/jobs/%00", 400, "job"),
    (f"{UI}/jobs/nope", 404, "nope"),
    (f"{UI}/jobs/Bad!/preview?cron=1", 400, "job"),
    (f"{UI}/jobs/nope/preview?cron=1", 404, "nope"),
    (f"{UI}/jobs/greet/runs/bad.id", 400, "execution"),
    (f"{UI}/jobs/greet/runs/{'e' * 201}", 400, "execution"),
    (f"{UI}/jobs/greet/runs/-leading-dash", 400, "execution"),
    (f"{UI}/jobs/BAD/runs/greet-1", 400, "job"),
    (f"{UI}/jobs/greet/runs/greet-missing", 404, "greet-missing"),
    (f"{UI}/jobs/nope/runs/nope-1", 404, "nope-1"),
    (f"{UI}/jobs/greet/runs/x/more", 404, "no such dashboard page"),
    (f"{UI}/nowhere", 404, "no such dashboard page"),
])
async def test_bad_path_parameters_are_400_or_404(dev: Dev, path: str, status: int,
                                                  field: str) -> None:
    response = await dev.http.get(path)
    assert response.status_code == status, response.text
    assert field in response.text
    assert response.headers["content-type"].startswith("text/plain")


async def post_form(http: httpx.AsyncClient, path: str, body: bytes | Any,
                    content_type: str | None = "application/x-www-form-urlencoded",
                    headers: Mapping[str, str] | None = None) -> httpx.Response:
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    return await http.post(path, content=body, headers=sent)


async def test_malformed_form_bodies_are_refused_naming_what_is_wrong(dev: Dev) -> None:
    http = dev.http
    token = await csrf_token(http)
    path = f"{UI}/jobs/nightly/disable"
    good = f"csrf={token}".encode()
    before = await snapshot(dev.executor)

    for kind in ("application/json", "multipart/form-data; boundary=x", "text/plain", None):
        response = await post_form(http, path, good, kind)
        assert response.status_code == 415, (kind, response.text)
        assert "Content-Type" in response.text

    oversized = good + b"&payload=" + b"a" * (128 * 1024)
    response = await post_form(http, path, oversized)
    assert response.status_code == 413, response.text
    assert "form" in response.text and str(128 * 1024) in response.text

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield good
        for _ in range(5):
            yield b"&payload=" + b"a" * (32 * 1024)

    response = await post_form(http, path, chunks())
    assert response.status_code == 413, response.text

    response = await post_form(http, path, good + b"&payload=\xff\xfe")
    assert response.status_code == 400, response.text
    assert "form" in response.text and "utf-8" in response.text.lower()

    too_many_fields = good + b"".join(b"&f%d=1" % i for i in range(250))
    response = await post_form(http, path, too_many_fields)
    assert response.status_code == 400, response.text
    assert "form" in response.text

    assert await snapshot(dev.executor) == before
    assert ops_events(dev.executor) == []


async def test_form_fields_outside_their_domain_are_400_naming_the_field(dev: Dev) -> None:
    http = dev.http
    token = await csrf_token(http)
    before = await snapshot(dev.executor)

    response = await http.post(f"{UI}/jobs/greet/trigger",
                               data={"csrf": token, "payload": "{not json"})
    assert response.status_code == 400
    assert 'data-field="payload"' in response.text
    assert re.search(r'id="payload-error"\s*>not valid JSON: ', response.text), response.text
    assert "{not json</textarea>" in response.text  # the form keeps what was typed

    response = await http.post(f"{UI}/jobs/greet/trigger",
                               data={"csrf": token, "payload": "x" * (64 * 1024 + 1)})
    assert response.status_code == 400
    assert 'data-field="payload"' in response.text

    selected = [f"explode/explode-{i}" for i in range(MAX_REPLAY_SELECTION + 1)]
    response = await http.post(f"{UI}/dead/replay", data={"csrf": token, "execution": selected})
    assert response.status_code == 400, response.text
    assert response.text.startswith("400: execution: at most 100 runs")

    for value in ("no-slash", "BAD/explode-1", "explode/bad.id"):
        response = await http.post(f"{UI}/dead/replay", data={"csrf": token, "execution": value})
        assert response.status_code == 400, (value, response.text)
        assert response.text.startswith("400: execution:")
    response = await http.post(f"{UI}/dead/replay", data={"csrf": token})
    assert response.status_code == 400 and "execution" in response.text

    for form, field in (({"cron": ""}, "cron"), ({"cron": "61 * * * *"}, "cron"),
                        ({"cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone"),
                        ({"cron": "c" * 201}, "cron"), ({"cron": "0 3 * * *\x00"}, "cron")):
        response = await http.post(f"{UI}/jobs/nightly/schedule", data={"csrf": token, **form})
        assert response.status_code == 400, (form, response.text)
        assert field in response.text, form
    response = await http.post(f"{UI}/jobs/hourly/schedule",
                               data={"csrf": token, "interval": "every hour"})
    assert response.status_code == 400 and 'data-field="interval"' in response.text
    response = await http.post(f"{UI}/jobs/greet/schedule", data={"csrf": token, "cron": "1"})
    assert response.status_code == 400 and "schedule" in response.text

    assert await snapshot(dev.executor) == before
    assert ops_events(dev.executor) == []


@pytest.mark.parametrize(("path", "form"), [
    (f"{UI}/jobs/nope/enable", {}),
    (f"{UI}/jobs/nope/disable", {}),
    (f"{UI}/jobs/nope/trigger", {"payload": "{}"}),
    (f"{UI}/jobs/nope/schedule", {"cron": "0 3 * * *"}),
    (f"{UI}/jobs/nope/runs/nope-1/replay", {}),
])
async def test_actions_on_an_unknown_job_are_404(dev: Dev, path: str,
                                                 form: dict[str, str]) -> None:
    token = await csrf_token(dev.http)
    before = await snapshot(dev.executor)
    response = await dev.http.post(path, data={"csrf": token, **form})
    assert response.status_code == 404, response.text
    assert "unknown job 'nope'" in response.text
    assert await snapshot(dev.executor) == before


async def test_bad_ids_in_action_paths_are_400(dev: Dev) -> None:
    token = await csrf_token(dev.http)
    before = await snapshot(dev.executor)
    for path, field in ((f"{UI}/jobs/Nope!/disable", "job"),
                        (f"{UI}/jobs/Nope!/trigger", "job"),
                        (f"{UI}/jobs/explode/runs/bad.id/replay", "execution")):
        response = await dev.http.post(path, data={"csrf": token})
        assert response.status_code == 400, (path, response.text)
        assert response.text.startswith(f"400: {field}:"), response.text
    assert await snapshot(dev.executor) == before


@pytest.mark.parametrize("payload", ["NaN", "1e999", '"\\ud800"', "[" * 65 + "]" * 65])
async def test_an_unsendable_json_payload_is_400_on_the_field(dev: Dev, payload: str) -> None:
    token = await csrf_token(dev.http)
    before = await snapshot(dev.executor)
    response = await dev.http.post(f"{UI}/jobs/greet/trigger",
                                   data={"csrf": token, "payload": payload})
    assert response.status_code == 400, response.text
    assert 'data-field="payload"' in response.text
    assert await snapshot(dev.executor) == before


async def test_a_deeply_nested_payload_is_400_on_the_field(dev: Dev) -> None:
    token = await csrf_token(dev.http)
    response = await dev.http.post(f"{UI}/jobs/greet/trigger",
                                   data={"csrf": token, "payload": "[" * 5000})
    assert response.status_code == 400, response.text
    assert 'data-field="payload"' in response.text


@pytest.mark.parametrize("interval", ["3000000d", "999999999d"])
async def test_a_huge_interval_in_the_preview_is_an_inline_error(dev: Dev,
                                                                 interval: str) -> None:
    preview = await dev.http.get(f"{UI}/jobs/hourly/preview", params={"interval": interval})
    assert preview.status_code == 200, preview.text
    assert 'class="field-error"' in preview.text and "interval" in preview.text


@pytest.mark.parametrize("interval", ["3000000d", "999999999d"])
async def test_a_huge_interval_edit_is_400(dev: Dev, interval: str) -> None:
    token = await csrf_token(dev.http)
    before = await snapshot(dev.executor)
    response = await dev.http.post(f"{UI}/jobs/hourly/schedule",
                                   data={"csrf": token, "interval": interval})
    assert await snapshot(dev.executor) == before
    assert response.status_code == 400, response.text
    assert "interval" in response.text


# -- 5. headers and escaping -----------------------------------------------------------------


async def test_pages_carry_the_security_headers(dev: Dev) -> None:
    runs = dev.runs
    token = await csrf_token(dev.http)
    responses = [await dev.http.get(path) for path in (
        f"{UI}/", f"{UI}/jobs/greet", f"{UI}/jobs/explode/runs/{runs.dead}", f"{UI}/dead",
        f"{UI}/ticks", f"{UI}/jobs/nightly/preview?cron=0+3+*+*+*")]
    # A refused form re-renders the page: the same headers.
    responses.append(await dev.http.post(f"{UI}/jobs/greet/trigger",
                                         data={"csrf": token, "payload": "{"}))
    for response in responses:
        url = str(response.url)
        assert response.status_code in (200, 400), url
        assert response.headers["content-type"].startswith("text/html"), url
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp, url
        assert "frame-ancestors 'none'" in csp, url
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Cache-Control"] == "no-store", url


async def test_what_jobs_and_users_wrote_is_escaped(dev: Dev) -> None:
    http, runs = dev.http, dev.runs
    token = await csrf_token(http)
    # A payload that fails JSON parsing comes back in the form, escaped.
    response = await http.post(f"{UI}/jobs/greet/trigger", data={"csrf": token, "payload": SCRIPT})
    assert response.status_code == 400
    assert f"{ESCAPED_SCRIPT}</textarea>" in response.text
    pages = {
        "refused trigger": response,
        # The job's description.
        "job": await http.get(f"{UI}/jobs/greet"),
        # A run's error message (the handler raised with markup in it).
        "failing job": await http.get(f"{UI}/jobs/explode"),
        "run": await http.get(f"{UI}/jobs/explode/runs/{runs.dead}"),
        "dead": await http.get(f"{UI}/dead"),
        # A payload string holding markup.
        "payload": await http.get(f"{UI}/jobs/greet/runs/{runs.succeeded}"),
        # The search text, reflected into the search box.
        "search": await http.get(f"{UI}/", params={"q": f'"><{SCRIPT[1:]}'}),
    }
    assert "Greets a subscriber &lt;script&gt;alert(&#39;description&#39;)" in pages["job"].text
    for name in ("failing job", "run", "dead"):
        assert f"boom {ESCAPED_SCRIPT}" in pages[name].text, name
    assert ESCAPED_SCRIPT in pages["payload"].text
    assert f'value="&#34;&gt;{ESCAPED_SCRIPT}"' in pages["search"].text
    for name, page in pages.items():
        assert page.status_code in (200, 400), name
        assert "<script>alert" not in page.text, name
        # The only scripts are the dashboard's own files.
        for tag in re.findall(r"<script[^>]*>", page.text):
            assert re.fullmatch(rf'<script src="{UI}/static/[a-z.-]+\.js" defer>', tag), tag
