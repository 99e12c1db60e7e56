"""The dashboard's HTTP side: routes, identity, CSRF, and every action through ``zenjobs.ops``.

Pages (GET): ``/`` jobs, ``/jobs/{job}``, ``/jobs/{job}/runs/{execution}``,
``/dead``, ``/ticks``, ``/jobs/{job}/preview`` (the schedule editor's preview
fragment), ``/events[?job=JOB]`` (Server-Sent Events; a job's and a run's page
follow only that job), ``/static/...``.
Actions (POST, operator role, CSRF-checked): ``/jobs/{job}/enable``,
``/disable``, ``/trigger``, ``/schedule``, ``/jobs/{job}/runs/{execution}/replay``,
``/dead/replay``. Each goes through the same function as the CLI
(:func:`zenjobs.ops.enable`, ..., :func:`zenjobs.ops.replay`), records who did it
(edit history and an ``ops.*`` telemetry event), and redirects (303) to the page
showing the result; a refused input re-renders the form with the message beside
the field (400). No input a client controls ever answers 500.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.datastructures import ImmutableMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import ops
from ..errors import (
    AuthenticationError,
    BackendUnavailableError,
    ConfigurationError,
    DefinitionError,
    InvalidRequestError,
    PayloadError,
    PermissionDeniedError,
    UnknownJobError,
    ZenjobsError,
)
from ..ops.inspection import job_fires
from ..runtime.effective import effective_descriptor
from ..stores.records import JobConfig
from . import csrf, forms, views
from .auth import DashboardAuth, Principal, Role
from .forms import FieldError
from .render import environment

log = logging.getLogger("zenjobs.dashboard")

#: How long one event stream stays open; the browser reconnects (``retry``) after it.
STREAM_SECONDS = 60.0
KEEPALIVE_SECONDS = 15.0
PRODUCTION_POLL_SECONDS = 15
MAX_FORM_BYTES = 128 * 1024
DONE_MESSAGES = {
    "enabled": "Job enabled.",
    "disabled": "Job disabled: the master tick no longer starts it.",
    "triggered": "Run started.",
    "replayed": "Replay started as the next attempt.",
    "scheduled": "Schedule changed.",
    "unchanged": "Nothing to change.",
}

Handler = Callable[[Request], Awaitable[Response]]


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def create_dashboard_app(site: views.Site, auth: DashboardAuth) -> Starlette:
    """The dashboard ASGI app over ``site``; mount it under ``/_zenjobs/ui``."""
    templates = environment()
    # Each Cloud Run instance streams only the events it handled itself, so production
    # pages also poll; in development one process sees everything.
    poll = f", every {PRODUCTION_POLL_SECONDS}s" if site.mode == "production" else ""

    def page(request: Request, name: str, principal: Principal, status: int = 200,
             **context: Any) -> HTMLResponse:
        token, new = csrf.token_for(request)
        base = request.scope.get("root_path", "")
        body = templates.get_template(name).render(
            base=base, site=site, principal=principal, csrf_token=token, poll=poll,
            now=site.clock.now(), request=request, done=DONE_MESSAGES.get(
                request.query_params.get("done", "")),
            **context)
        response = HTMLResponse(body, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        response.headers["X-Content-Type-Options"] = "nosniff"
        if new:
            csrf.set_cookie(response, token, request)
        return response

    async def identify(request: Request, write: bool) -> Principal:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            principal = await auth.authenticate(headers)
        except AuthenticationError as exc:
            raise _Refused(401, str(exc), {"WWW-Authenticate": "Bearer"}) from None
        except PermissionDeniedError as exc:
            raise _Refused(403, str(exc)) from None
        if write and principal.role is not Role.OPERATOR:
            raise _Refused(403, f"{principal.email} has the viewer role: actions need the "
                                "operator role")
        return principal

    def guarded(write: bool, fn: Callable[[Request, Principal], Awaitable[Response]]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                principal = await identify(request, write)
                if write:
                    form = await _form(request)
                    try:
                        csrf.check(request, form)
                    except csrf.CsrfError as exc:
                        raise _Refused(403, str(exc)) from None
                    request.state.form = form
                return await fn(request, principal)
            except _Refused as exc:
                return _plain(exc.status, exc.message, exc.headers)
            except FieldError as exc:
                return _plain(400, str(exc))
            except UnknownJobError as exc:
                return _plain(404, str(exc))
            except BackendUnavailableError as exc:
                return _plain(503, f"the store or queue is unavailable: {exc}",
                              {"Retry-After": "5"})
        return endpoint

    def actor(principal: Principal) -> str:
        return principal.email if principal.via != "local" else ops.default_actor()

    # -- pages -------------------------------------------------------------------------------

    async def jobs_list(request: Request, principal: Principal) -> Response:
        query = forms.jobs_query(request.query_params)
        data = await views.jobs_page(site, query, site.clock.now())
        return page(request, "jobs.html", principal, data=data, types=views.job_types(),
                    statuses=views.STATUS_FILTERS, link=_linker(request))

    async def job_detail(request: Request, principal: Principal,
                         error: FieldError | None = None, status: int = 200,
                         form: Mapping[str, str] | None = None) -> Response:
        job_id = forms.job_id(request.path_params["job"])
        before = forms.cursor(request.query_params)
        data = await views.job_page(site, job_id, site.clock.now(), before)
        return page(request, "job.html", principal, status, data=data, error=error,
                    form=form or {})

    async def run_detail(request: Request, principal: Principal) -> Response:
        job_id = forms.job_id(request.path_params["job"])
        execution_id = forms.execution_id(request.path_params["execution"])
        data = await views.run_page(site, job_id, execution_id)
        if data is None:
            return _plain(404, f"job {job_id!r} has no execution {execution_id!r}")
        return page(request, "run.html", principal, data=data)

    async def dead_list(request: Request, principal: Principal) -> Response:
        job = request.query_params.get("job", "")
        job_id = forms.job_id(job) if job else ""
        data = await views.dead_page(site, job_id, forms.cursor(request.query_params))
        return page(request, "dead.html", principal, data=data, results=None)

    async def ticks_list(request: Request, principal: Principal) -> Response:
        return page(request, "ticks.html", principal, rows=views.ticks(site))

    async def preview(request: Request, principal: Principal) -> Response:
        job_id = forms.job_id(request.path_params["job"])
        desc = site.registry.get(job_id)
        fires, error = [], None
        try:
            sched = forms.schedule(request.query_params, desc.type)
            record = await site.store.get_job(job_id)
            base = record.config if record is not None else JobConfig(timezone=desc.timezone)
            config = _with_schedule(base, sched)
            fires = job_fires(effective_descriptor(desc, config), site.clock.now(),
                              views.NEXT_FIRES)
        except (FieldError, DefinitionError) as exc:
            error = str(exc)
        return page(request, "_fires.html", principal, fires=fires, error=error,
                    tz=request.query_params.get("timezone") or desc.timezone)

    # -- actions -----------------------------------------------------------------------------

    async def edit(request: Request, principal: Principal, command: str) -> Response:
        job_id = forms.job_id(request.path_params["job"])
        now = site.clock.now()
        who = actor(principal)
        form: Mapping[str, str] = request.state.form
        try:
            if command == "enable":
                change = await ops.enable(site.registry, site.store, job_id, now, actor=who)
            elif command == "disable":
                change = await ops.disable(site.registry, site.store, job_id, now, actor=who)
            else:
                desc = site.registry.get(job_id)
                sched = forms.schedule(form, desc.type)
                change = await ops.set_schedule(site.registry, site.store, job_id, now,
                                                cron=sched.cron, interval=sched.interval,
                                                timezone=sched.timezone, actor=who)
        except FieldError as exc:
            return await job_detail(request, principal, exc, 400, form)
        except (DefinitionError, ConfigurationError) as exc:
            return await job_detail(request, principal, FieldError("schedule", str(exc)),
                                    400, form)
        event = ops.edit_event(change, now)
        if event is not None and site.engine.telemetry is not None:
            site.engine.telemetry.emit(event)
        done = {"enable": "enabled", "disable": "disabled"}.get(command, "scheduled")
        return _redirect(request, f"/jobs/{job_id}", done if change.edit else "unchanged")

    async def trigger(request: Request, principal: Principal) -> Response:
        job_id = forms.job_id(request.path_params["job"])
        form: Mapping[str, str] = request.state.form
        try:
            payload = forms.payload(form)
            execution_id = await ops.trigger(site.engine, job_id, payload, site.clock.now(),
                                             actor=actor(principal))
        except FieldError as exc:
            return await job_detail(request, principal, exc, 400, form)
        except (InvalidRequestError, PayloadError) as exc:  # the task's own payload checks
            return await job_detail(request, principal, FieldError("payload", str(exc)),
                                    400, form)
        return _redirect(request, f"/jobs/{job_id}/runs/{execution_id}", "triggered")

    async def replay_one(request: Request, principal: Principal) -> Response:
        job_id = forms.job_id(request.path_params["job"])
        execution_id = forms.execution_id(request.path_params["execution"])
        try:
            await ops.replay(site.engine, execution_id, site.clock.now(), job_id=job_id,
                             actor=actor(principal))
        except (InvalidRequestError, ConfigurationError) as exc:
            return _plain(400, str(exc))
        except UnknownJobError:
            raise
        except ZenjobsError as exc:  # not failure or dead (or no such run): nothing to replay
            return _plain(409, str(exc))
        return _redirect(request, f"/jobs/{job_id}/runs/{execution_id}", "replayed")

    async def replay_selected(request: Request, principal: Principal) -> Response:
        chosen = forms.selection(request.state.form)
        results: list[tuple[str, str, str]] = []
        for job_id, execution_id in chosen:
            try:
                await ops.replay(site.engine, execution_id, site.clock.now(), job_id=job_id,
                                 actor=actor(principal))
                results.append((job_id, execution_id, "replaying"))
            except BackendUnavailableError:
                raise
            except ZenjobsError as exc:  # this one cannot be replayed; the others still are
                results.append((job_id, execution_id, str(exc)))
        data = await views.dead_page(site)
        return page(request, "dead.html", principal, data=data, results=results)

    # -- live --------------------------------------------------------------------------------

    async def events(request: Request, principal: Principal) -> Response:
        job = request.query_params.get("job", "")
        only = forms.job_id(job) if job else None
        return StreamingResponse(_stream(site, only), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _plain(exc.status_code, exc.detail if exc.status_code != 404
                          else "no such dashboard page")
        return _plain(500, "internal error")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("dashboard error", exc_info=exc)
        return _plain(500, "internal error (logged)")

    def action(command: str) -> Callable[[Request, Principal], Awaitable[Response]]:
        async def run(request: Request, principal: Principal) -> Response:
            return await edit(request, principal, command)
        return run

    static = Path(__file__).with_name("static")
    routes = [
        Route("/", guarded(False, jobs_list), methods=["GET"]),
        Route("/jobs/{job}", guarded(False, job_detail), methods=["GET"]),
        Route("/jobs/{job}/preview", guarded(False, preview), methods=["GET"]),
        Route("/jobs/{job}/runs/{execution}", guarded(False, run_detail), methods=["GET"]),
        Route("/dead", guarded(False, dead_list), methods=["GET"]),
        Route("/ticks", guarded(False, ticks_list), methods=["GET"]),
        Route("/events", guarded(False, events), methods=["GET"]),
        Route("/jobs/{job}/enable", guarded(True, action("enable")), methods=["POST"]),
        Route("/jobs/{job}/disable", guarded(True, action("disable")), methods=["POST"]),
        Route("/jobs/{job}/schedule", guarded(True, action("schedule")), methods=["POST"]),
        Route("/jobs/{job}/trigger", guarded(True, trigger), methods=["POST"]),
        Route("/jobs/{job}/runs/{execution}/replay", guarded(True, replay_one),
              methods=["POST"]),
        Route("/dead/replay", guarded(True, replay_selected), methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    return Starlette(routes=routes, exception_handlers={
        HTTPException: not_found, Exception: server_error})


def _with_schedule(config: JobConfig, sched: forms.ScheduleForm) -> JobConfig:
    """``config`` with the schedule editor's fields applied (for the preview only)."""
    interval = int(sched.interval.total_seconds()) if sched.interval is not None else None
    return replace(config, cron=sched.cron if sched.cron else config.cron,
                   interval_seconds=interval if interval is not None else config.interval_seconds,
                   timezone=sched.timezone or config.timezone)


async def _form(request: Request) -> ImmutableMultiDict[str, str]:
    """The POSTed form: URL-encoded only (every dashboard form is), at most MAX_FORM_BYTES."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_FORM_BYTES):
        raise _Refused(413, f"form larger than {MAX_FORM_BYTES} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise _Refused(415, "Content-Type must be application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise _Refused(413, f"form larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError) as exc:  # the client's mistake, never a 500
        raise _Refused(400, f"unreadable form: {exc}") from None
    return ImmutableMultiDict(pairs)


async def _stream(site: views.Site, job: str | None) -> AsyncIterator[str]:
    """Notices for an open page (``job``: only that job's run and action notices)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STREAM_SECONDS
    async with site.events.subscribe() as queue:
        yield "retry: 2000\n\n"
        while True:
            left = deadline - loop.time()
            if left <= 0:
                return
            try:
                notice = await asyncio.wait_for(queue.get(), min(left, KEEPALIVE_SECONDS))
            except asyncio.TimeoutError:
                yield ": keepalive\n\n"
                continue
            if notice is None:
                return
            if job is not None and notice.job_id != job:
                continue
            yield f"event: {notice.kind}\ndata: {json.dumps({'job': notice.job_id})}\n\n"


def _plain(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """An error page: plain text naming what was refused (never a trace)."""
    return Response(f"{status}: {message}\n", status_code=status, media_type="text/plain",
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                             **(headers or {})})


def _redirect(request: Request, path: str, done: str) -> Response:
    base = request.scope.get("root_path", "")
    return RedirectResponse(f"{base}{path}?{urlencode({'done': done})}", status_code=303)


def _linker(request: Request) -> Callable[..., str]:
    """``link(sort='next')``: this page's URL with some query parameters changed."""
    current = dict(request.query_params)

    def link(**changes: Any) -> str:
        merged = {**current, **{k: str(v) for k, v in changes.items() if v is not None}}
        merged = {k: v for k, v in merged.items() if v not in ("", None) and k != "done"}
        base = request.scope.get("root_path", "")
        return f"{base}/?{urlencode(merged)}" if merged else f"{base}/"

    return link
