"""Run a ``heavy`` (CPU-bound, possibly synchronous) handler in its own process.

A heavy handler must not hold the event loop (or the GIL) that serves
webhooks, so it runs in a child process: one fresh process per run, started
with the ``forkserver`` method where available (safe with threads and running
event loops, ~10-30 ms per start) and ``spawn`` elsewhere. The handler is sent
by reference (module-level; validation enforces it) and imported by the child.

Why a process per run rather than a pool: a timeout must *kill* the run, and a
``ProcessPoolExecutor`` cannot kill one task without breaking the whole pool.
A fresh process per run makes killing trivially safe and isolates state
between runs (a leak or a crash dies with its run); the start cost is small
next to what a job worth declaring ``heavy`` costs, and heavy jobs run on
their own queue with bounded concurrency.

Errors: if the handler's exception survives pickling, the parent re-raises the
original exception (so ``PermanentError`` and the descriptor's
``permanent_errors`` keep working), chained to a :class:`RemoteTraceback`
carrying the child's traceback text. If it cannot cross the boundary, the
parent raises :class:`~zenjobs.errors.HeavyJobError` with the original type
name (``error_type``) and message. A child that dies without answering
(``os._exit``, a signal, out of memory) raises ``HeavyJobError`` too.

The parent never blocks the event loop: it waits on the result pipe and the
process sentinel with ``loop.add_reader`` (or a worker thread on loops without
it), and starts the process from a worker thread.
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import pickle
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from ..errors import DefinitionError, HeavyJobError, JobTimeoutError
from ..registry import JobContext

#: Seconds between SIGTERM and SIGKILL when a run is stopped.
KILL_GRACE_SECONDS = 1.0


class RemoteTraceback(Exception):
    """The child's formatted traceback, attached as ``__cause__`` of a re-raised error."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_default_context: BaseContext | None = None


def default_context(preload: Sequence[str] = ()) -> BaseContext:
    """``forkserver`` where the platform has it, else ``spawn`` (never plain ``fork``).

    The forkserver preloads this module (and ``preload``, e.g. the registry
    module), so each run forks an interpreter that already has zenjobs
    imported: ~15 ms per start instead of ~50 ms. Preloading only takes
    effect before the (process-wide) forkserver first starts.
    """
    global _default_context
    if _default_context is None or preload:
        if "forkserver" in multiprocessing.get_all_start_methods():
            forkserver = multiprocessing.get_context("forkserver")
            forkserver.set_forkserver_preload([__name__, *preload])
            _default_context = forkserver
        else:
            _default_context = multiprocessing.get_context("spawn")
    return _default_context


def _child_main(conn: Connection, fn: Callable[[JobContext], Any], ctx: JobContext) -> None:
    """Entry point of the child process: run ``fn`` and send one message back."""
    try:
        if inspect.iscoroutinefunction(fn):
            result = asyncio.run(fn(ctx))
        else:
            result = fn(ctx)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
    except BaseException as exc:
        payload = _error_payload(exc)
    else:
        try:
            payload = pickle.dumps(("ok", result))
        except Exception as exc:
            message = f"the handler's result cannot be sent to the parent process: {exc}"
            payload = pickle.dumps(("error", None, type(exc).__qualname__, message, ""))
    try:
        conn.send_bytes(payload)
    finally:
        conn.close()


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _error_payload(exc: BaseException) -> bytes:
    """Pickle the exception itself if it round-trips, else only its name and message."""
    tb_text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    type_name = type(exc).__qualname__
    pickled: bytes | None
    try:
        pickled = pickle.dumps(exc)
        pickle.loads(pickled)
    except Exception:
        pickled = None
    try:
        message = str(exc)
    except Exception:
        message = ""
    return pickle.dumps(("error", pickled, type_name, message, tb_text))


def _raise_from_message(message: tuple[Any, ...]) -> Any:
    if message[0] == "ok":
        return message[1]
    _, pickled, type_name, text, tb_text = message
    original: BaseException | None = None
    if pickled is not None:
        try:
            original = pickle.loads(pickled)
        except Exception:
            original = None
    if isinstance(original, Exception):
        raise original from RemoteTraceback(tb_text)
    raise HeavyJobError(type_name, text) from RemoteTraceback(tb_text)


async def _wait_readable(objects: Sequence[Any], timeout: float | None) -> bool:
    """Wait until one of ``objects`` (connections or fds) is readable; False on timeout."""
    loop = asyncio.get_running_loop()
    fds = [obj if isinstance(obj, int) else obj.fileno() for obj in objects]
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    added: list[int] = []
    try:
        for fd in fds:
            loop.add_reader(fd, wake)
            added.append(fd)
    except NotImplementedError:  # e.g. the Windows proactor loop: wait in a thread
        for fd in added:
            loop.remove_reader(fd)
        found = await loop.run_in_executor(None, mp_wait, list(objects), timeout)
        return bool(found)
    try:
        await asyncio.wait_for(ready, timeout)
        return True
    except asyncio.TimeoutError:
        return False
    finally:
        for fd in added:
            loop.remove_reader(fd)


async def _stop(
    process: BaseProcess, grace: float = KILL_GRACE_SECONDS, patience: float = 0
) -> None:
    """Let ``process`` exit for ``patience`` s, then terminate, kill and reap it, off the loop."""
    if patience > 0 and process.exitcode is None:
        await _wait_readable([process.sentinel], patience)
    if process.exitcode is None:
        process.terminate()
        if not await _wait_readable([process.sentinel], grace):
            process.kill()
            await _wait_readable([process.sentinel], None)
    process.join(0)  # reaps; the process has exited, so this does not block


async def run_heavy(
    fn: Callable[[JobContext], Any],
    ctx: JobContext,
    timeout: float,
    *,
    mp_context: BaseContext | None = None,
    kill_grace: float = KILL_GRACE_SECONDS,
) -> Any:
    """Run ``fn(ctx)`` in a child process; return its result or raise its error.

    Raises :class:`~zenjobs.errors.JobTimeoutError` (after killing the child)
    when it runs past ``timeout`` seconds: SIGTERM, then SIGKILL after
    ``kill_grace`` seconds. Cancelling the awaiting task also kills the child.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    try:
        pickle.dumps(fn)
    except Exception:
        raise DefinitionError(
            ctx.job_id,
            "handler",
            "a heavy handler must be a module-level function "
            "(it is imported by name in a subprocess)",
        ) from None
    context = mp_context or default_context()
    loop = asyncio.get_running_loop()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(  # type: ignore[attr-defined]
        target=_child_main,
        args=(sender, fn, ctx),
        name=f"zenjobs-heavy-{ctx.job_id}",
        daemon=True,
    )
    deadline = loop.time() + timeout  # the start-up counts towards the timeout

    def close_pipe() -> None:
        sender.close()
        receiver.close()

    # start() pickles ctx (payloads up to 1 MB) into a pipe: keep it off the loop.
    starting = loop.run_in_executor(None, process.start)
    try:
        await asyncio.shield(starting)
    except asyncio.CancelledError:
        # The start thread still uses the pipe: clean up once it is done.
        def abandon(_: object) -> None:
            _kill_started(process)
            close_pipe()

        starting.add_done_callback(abandon)
        raise
    except BaseException:
        close_pipe()
        raise
    sender.close()  # the child holds the only write end now: its exit means EOF
    unanswered = False
    try:
        return await _collect(process, receiver, deadline, ctx, timeout)
    except (JobTimeoutError, asyncio.CancelledError):
        unanswered = True
        raise
    finally:
        try:
            # A child that answered is exiting on its own: give it a moment first.
            patience = 0.0 if unanswered else kill_grace
            await asyncio.shield(_stop(process, kill_grace, patience))
        finally:
            receiver.close()


def _kill_started(process: BaseProcess) -> None:
    if process.pid is not None and process.exitcode is None:
        process.kill()


async def _collect(
    process: BaseProcess, receiver: Connection, deadline: float, ctx: JobContext, timeout: float
) -> Any:
    loop = asyncio.get_running_loop()
    if not await _wait_readable([receiver], max(deadline - loop.time(), 0.0)):
        raise JobTimeoutError(
            f"job {ctx.job_id!r} (execution {ctx.execution_id!r}) ran past "
            f"its timeout of {timeout:g}s; its process was killed"
        )
    try:
        # The child pickles its whole answer before writing it, so once the
        # first bytes are here the rest follows at memory speed: read inline.
        data = receiver.recv_bytes()
    except EOFError:
        await _wait_readable([process.sentinel], KILL_GRACE_SECONDS)
        raise HeavyJobError(
            "ProcessDied",
            f"the heavy process of job {ctx.job_id!r} exited "
            f"with code {process.exitcode} without a result",
        ) from None
    try:
        message = pickle.loads(data)
    except Exception as exc:
        raise HeavyJobError(type(exc).__qualname__, f"cannot read the result: {exc}") from None
    return _raise_from_message(message)
