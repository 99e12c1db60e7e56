"""Figure 7: dashboard pages cost the page shown, not the store: 10 vs 10,000 jobs.

For each store, two services side by side: *small* has 10 registered jobs,
*large* 10,000 (1 in 10 periodic, hourly; the rest endpoint jobs). Both hold
the same recent history: each of 5 *hot* jobs (``job_00000`` to ``job_00004``)
ran every 2 minutes over the last 24 h (720 runs each, newest first: 1 in 50
dead, 1 in 50 failed, 1 in 100 skipped), and other jobs have 2 runs each at
random instants of the last 30 days (1 in 20 dead). *large* adds the hot
jobs' older history, back months. On SQLite: every other job has its 2 runs,
1,000,000 runs in all in *large* (196,002 per hot job), 3,610 in *small*. On
Google's Firestore emulator, whose seeding and scans are slow: 1 in 10 other
jobs of *large* has runs, 8,000 runs in all (1,200 per hot job), 3,610 in
*small*. The figure titles say how many. Job documents are written for every
job, with its last completed run.

* SQLite: a file in a temporary directory; the job rows and runs are written
  with ``executemany`` straight into the schema ``zenjobs/stores/sqlite/schema.py``
  defines (the store has no bulk API): job rows by ``schema.job_row``, run rows
  from ``schema.run_row`` templates (:class:`RunRows`, checked against it on a
  sample). The store's ``runs`` indexes are rebuilt by reopening it.
* Firestore: one emulator project per size (started here on 127.0.0.1, or
  $FIRESTORE_EMULATOR_HOST), seeded with batched writes (500 per batch).

Each measured request is a full HTTP GET through the dashboard's ASGI app of a
development executor (``ZenJobsExecutor.development(..., dashboard=Dashboard())``,
``httpx.ASGITransport``): ``/_zenjobs/ui/`` (jobs list page 1: 10 rows among
10 jobs, 50 among 10,000), ``/_zenjobs/ui/jobs/job_00000`` (a hot job: its 25
newest runs), ``/_zenjobs/ui/dead`` (50 newest dead runs), and, to tell the
number of jobs from the number of rows, ``/_zenjobs/ui/?q=job_0000`` (the same
10 rows in both). Every page is checked (rows shown, the hot job's 24 h counts)
during warm-up. Rounds alternate small/large after the warm-up (two rounds;
one with ``--quick``); medians. Targets: render time ratio large/small <= 1.5.
Also measured inside each request: the time spent in store calls
(:class:`TimedStore`), and on Firestore the documents read
(``FirestoreJobStore.reads``, what Firestore bills).

Google's emulator answers every query by scanning the collection (see
``bench_tick.py``): its ``count()`` and ``dead_runs`` times grow with the runs
of the project, unlike Firestore, whose queries are served from an index; so on
the emulator the ratios are reported as info, unless they are met anyway.

Run alone: ``.venv/bin/python benchmarks/bench_dashboard.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import asyncio
import heapq
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
from _common import ROOT, Figure, cli, median, publish
from _doubles import NullTelemetry, noop

from zenjobs import JobType, ZenJobs, ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.runtime.effective import config_from_descriptor
from zenjobs.stores.firestore import codec as codec
from zenjobs.stores.firestore.store import FirestoreJobStore
from zenjobs.stores.records import JobRecord, RunRecord, RunStatus, Trigger
from zenjobs.stores.sqlite import schema as schema
from zenjobs.stores.sqlite.store import SqliteJobStore
from zenjobs.stores.transitions import new_job, run_due_at
from zenjobs.testing import VirtualClock

sys.path.insert(0, str(ROOT))
from tests.emulators.firestore import ensure_emulator, reset, stop_started

UI = "/_zenjobs/ui"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=timezone.utc)
SMALL = 10
HOT = 5  # job_00000 .. job_00004 have many runs
DETAIL = "job_00000"  # the job page measured (periodic, hot)
EVERY = timedelta(minutes=2)  # a hot job's cadence
RECENT = 720  # runs per hot job in the last 24 h, in both stores
OTHER_RUNS = 2  # runs of every other job, over the last 30 days
FIRESTORE_OTHER_EVERY = 10  # on the emulator, only 1 in 10 other jobs has runs
HISTORY = timedelta(days=30)
RATIO_TARGET = 1.5
BATCH = 500
IN_FLIGHT = 4  # batches committed at once while seeding the emulator
SAME_ROWS = "job_0000"  # a text filter matching job_00000 .. job_00009 in both registries
PAGES = {"jobs": "/", "job": f"/jobs/{DETAIL}", "dead": "/dead", "jobs_q": f"/?q={SAME_ROWS}"}
TITLES = {"jobs": "jobs list page 1", "job": f"job page ({DETAIL})", "dead": "dead runs page",
          "jobs_q": f"jobs list ?q={SAME_ROWS} (10 rows in both)"}
#: The store calls a dashboard page makes (timed by :class:`TimedStore`).
TIMED = frozenset({"get_job", "get_jobs", "run_counts", "list_runs", "dead_runs", "list_edits",
                   "get_run"})


class TimedStore:
    """Passes every call to ``inner``; sums the time spent in the dashboard's store calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in TIMED:
            return attr

        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began
                self.calls[name] += 1

        return timed


# -- the data ------------------------------------------------------------------------------


def job_id(index: int) -> str:
    return f"job_{index:05d}"


def registry(size: int) -> ZenJobs:
    jobs = ZenJobs()
    for i in range(size):
        if i % 10 == 0:
            jobs.job(job_id(i), type=JobType.PERIODIC, interval=timedelta(hours=1))(noop)
        else:
            jobs.job(job_id(i), type=JobType.ENDPOINT)(noop)
    return jobs


def run_record(job: str, number: int, created: datetime, status: RunStatus) -> RunRecord:
    """A final run as the runtime leaves it (a dead one after 4 attempts)."""
    failed = status in (RunStatus.DEAD, RunStatus.FAILURE)
    skipped = status.is_skip
    periodic = int(job.removeprefix("job_")) % 10 == 0
    return RunRecord(
        job_id=job, execution_id=f"{job}-r{number:07d}",
        trigger=Trigger.SCHEDULE if periodic else Trigger.ENDPOINT, scheduled_for=created,
        status=status, attempt=4 if status is RunStatus.DEAD else 1, payload=None,
        created_at=created, started_at=None if skipped else created + timedelta(seconds=1),
        finished_at=created + timedelta(seconds=2), duration_ms=None if skipped else 1000,
        error_type="ProviderDown" if failed else None,
        error_message=f"provider down (attempt {4 if status is RunStatus.DEAD else 1})"
        if failed else None)


def hot_status(age: int) -> RunStatus:
    """The status of a hot job's run ``age`` runs before its newest (the newest is dead)."""
    if age % 50 == 0:
        return RunStatus.DEAD
    if age % 50 == 25:
        return RunStatus.FAILURE
    if age % 100 == 42:
        return RunStatus.SKIPPED_DISABLED
    return RunStatus.SUCCESS


#: A run to seed: (created_at in µs since the epoch, job index, run number, status).
Seed = tuple[int, int, int, RunStatus]


def all_runs(size: int, per_hot: int, other_every: int) -> Iterator[Seed]:
    """Every run of one store, oldest first, as they would have been written.

    The hot jobs ran every 2 minutes (``per_hot`` runs each, 7 s apart from one
    another); every ``other_every``-th other job ran twice at random instants of
    the last 30 days (1 in 20 dead).
    """
    now, every = schema.to_micros(NOW) or 0, int(EVERY.total_seconds()) * 1_000_000
    hot = ((now - (age + 1) * every + 7_000_000 * j, j, per_hot - 1 - age, hot_status(age))
           for age in range(per_hot - 1, -1, -1) for j in range(min(HOT, size)))
    rng = random.Random(size)
    span = int(HISTORY.total_seconds())
    others = sorted(
        (now - rng.randrange(60, span) * 1_000_000, i, n,
         RunStatus.DEAD if (i + n) % 20 == 0 else RunStatus.SUCCESS)
        for i in range(HOT, size) if (i - HOT) % other_every == 0 for n in range(OTHER_RUNS))
    return heapq.merge(hot, others)


def hot_share(size: int, runs: int, other_every: int) -> int:
    """Runs per hot job so that a store of ``size`` jobs holds ``runs`` in all (at least RECENT)."""
    others = len(range(HOT, size, other_every)) * OTHER_RUNS
    return max(RECENT, (runs - others) // HOT)


def job_records(jobs: ZenJobs, newest: dict[int, Seed]) -> Iterator[JobRecord]:
    """Each job's document: next fire (periodic) and its last completed run."""
    for index, desc in enumerate(jobs):
        next_run = NOW + timedelta(minutes=30) if desc.type is JobType.PERIODIC else None
        record = new_job(desc.id, config_from_descriptor(desc), next_run, NOW - HISTORY)
        if index in newest:
            micros, _, number, status = newest[index]
            last = run_record(desc.id, number, schema.from_micros(micros) or NOW, status)
            record = JobRecord(job_id=record.job_id, config=record.config,
                               next_run_at=record.next_run_at, last_status=last.status,
                               last_run_at=last.finished_at, last_execution_id=last.execution_id,
                               updated_at=last.finished_at)
        yield record


def note(newest: dict[int, Seed], counts: Counter[str], run: Seed) -> None:
    counts[run[3].value] += 1
    if run[3].is_completed:
        newest[run[1]] = run  # runs come oldest first


# -- seeding -------------------------------------------------------------------------------


RUN_COLUMNS = [name.strip() for name in schema.RUN_WRITE_COLUMNS.split(",")]
RUN_INSTANTS = ("scheduled_for", "created_at", "started_at", "finished_at", "next_attempt_at",
                "lease_expires_at", "due_at")


class RunRows:
    """Rows of ``runs`` as ``schema.run_row`` writes them, fast enough for a million.

    One row per (job, status) is built by the store's own ``schema.run_row`` from a
    record created at NOW; each run's row is that template with its execution id and
    its instants moved by the same offset. :meth:`check` compares rows with a fresh
    ``schema.run_row`` of the run's record.
    """

    COLUMNS = RUN_COLUMNS
    EXECUTION = RUN_COLUMNS.index("execution_id")
    INSTANTS = [RUN_COLUMNS.index(name) for name in RUN_INSTANTS]

    def __init__(self) -> None:
        self.now = schema.to_micros(NOW) or 0
        self.templates: dict[tuple[int, RunStatus], list[Any]] = {}

    @staticmethod
    def exact(run: Seed) -> tuple[Any, ...]:
        record = run_record(job_id(run[1]), run[2], schema.from_micros(run[0]) or NOW, run[3])
        return (*schema.run_row(record), schema.to_micros(run_due_at(record)))

    def row(self, run: Seed) -> tuple[Any, ...]:
        micros, index, number, status = run
        template = self.templates.get((index, status))
        if template is None:
            template = list(self.exact((self.now, index, 0, status)))
            self.templates[(index, status)] = template
        row = template.copy()
        row[self.EXECUTION] = f"{job_id(index)}-r{number:07d}"
        shift = micros - self.now
        for column in self.INSTANTS:
            if row[column] is not None:
                row[column] += shift
        return tuple(row)

    def check(self, run: Seed) -> None:
        if self.row(run) != self.exact(run):
            raise RuntimeError(f"seeded row differs from schema.run_row: {run}")


#: Indexes on ``runs`` the store creates on open (``CREATE INDEX IF NOT EXISTS``): dropped
#: while seeding and rebuilt in one sorted pass by reopening, faster than row by row.
RUN_INDEXES = ("runs_recent", "runs_by_status", "runs_overdue")


def seed_sqlite(path: Path, jobs: ZenJobs, per_hot: int) -> tuple[int, int]:
    """Write every job row and run straight into the schema; returns (runs, dead runs)."""
    SqliteJobStore(path).close()  # the store creates the schema
    insert = (f"INSERT INTO runs ({schema.RUN_WRITE_COLUMNS}) "
              f"VALUES ({schema.marks(len(RunRows.COLUMNS))})")
    newest: dict[int, Seed] = {}
    counts: Counter[str] = Counter()
    maker = RunRows()

    def rows() -> Iterator[tuple[Any, ...]]:
        for n, run in enumerate(all_runs(len(jobs), per_hot, 1)):
            note(newest, counts, run)
            if n < 100 or n % 10_007 == 0:
                maker.check(run)
            yield maker.row(run)

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for index in RUN_INDEXES:
            conn.execute(f"DROP INDEX {index}")
        conn.executemany(insert, rows())
        conn.executemany(f"INSERT OR REPLACE INTO jobs ({schema.JOB_COLUMNS}) "
                         f"VALUES ({schema.marks(len(schema.JOB_COLUMN_NAMES))})",
                         (schema.job_row(job) for job in job_records(jobs, newest)))
        conn.execute("COMMIT")
    finally:
        conn.close()
    SqliteJobStore(path).close()  # recreates the indexes
    with sqlite3.connect(path) as check:
        found = {row[0] for row in check.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'")}
        check.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if not found.issuperset(RUN_INDEXES):
        raise RuntimeError(f"the store did not recreate {set(RUN_INDEXES) - found}")
    return sum(counts.values()), counts[RunStatus.DEAD.value]


async def seed_firestore(store: FirestoreJobStore, jobs: ZenJobs, per_hot: int,
                         other_every: int) -> tuple[int, int]:
    """Batched writes of every run and job document; returns (runs, dead runs)."""
    client = store.client()
    newest: dict[int, Seed] = {}
    counts: Counter[str] = Counter()
    writes: list[tuple[Any, dict[str, Any]]] = []
    for run in all_runs(len(jobs), per_hot, other_every):
        note(newest, counts, run)
        record = run_record(job_id(run[1]), run[2], schema.from_micros(run[0]) or NOW, run[3])
        writes.append((store._run_ref(record.job_id, record.execution_id),
                       codec.encode_run(record, store.run_retention)))
    writes += [(store._job_ref(job.job_id), codec.encode_job(job))
               for job in job_records(jobs, newest)]

    async def commit(first: int) -> None:
        batch = client.batch()
        for ref, document in writes[first:first + BATCH]:
            batch.set(ref, document)
        await batch.commit()

    starts = list(range(0, len(writes), BATCH))
    for group in range(0, len(starts), IN_FLIGHT):
        await asyncio.gather(*(commit(first) for first in starts[group:group + IN_FLIGHT]))
    return sum(counts.values()), counts[RunStatus.DEAD.value]


# -- measuring -----------------------------------------------------------------------------


class Side:
    """One service: its registry, store (timed), executor and HTTP client."""

    def __init__(self, jobs: ZenJobs, store: Any) -> None:
        self.store = TimedStore(store)
        self.executor = ZenJobsExecutor.development(
            jobs, store=self.store, clock=VirtualClock(NOW), telemetry=NullTelemetry(),
            dashboard=Dashboard(), loop_lag_threshold=None)
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.executor.app),
                                      base_url="http://127.0.0.1:8080")

    async def get(self, path: str) -> tuple[float, float, int, str]:
        """(seconds, of which in store calls, documents read, body) of one GET."""
        reads = getattr(self.store.inner, "reads", 0)
        in_store = self.store.seconds
        began = time.perf_counter()
        response = await self.http.get(UI + path)
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
        return (elapsed, self.store.seconds - in_store,
                getattr(self.store.inner, "reads", 0) - reads, response.text)

    async def close(self) -> None:
        await self.http.aclose()
        await self.executor.shutdown()  # closes the store too


def check(name: str, size: int, page: str, body: str) -> dict[str, int]:
    """What the page shows (rows), so a broken page is never timed as a fast one."""
    listing = page.startswith("jobs")
    rows = body.count("data-job=" if listing else "data-execution=")
    wanted = {"jobs": min(size, 50), "job": 25, "dead": 50, "jobs_q": SMALL}[page]
    if rows != wanted:
        raise RuntimeError(f"{name} {page}: {rows} rows, expected {wanted}")
    if listing:  # the hot job's 24 h counts are the same in both stores
        row = body[body.index(f'data-job="{DETAIL}"'):]
        row = row[:row.index("</tr>")]
        if "✓ 684" not in row or "✗ 29" not in row or "⤼ 7" not in row:
            raise RuntimeError(f"{name}: unexpected 24 h counts of {DETAIL}: {row}")
    return {"rows": rows, "bytes": len(body.encode())}


async def measure_sides(sides: dict[str, Side], sizes: dict[str, int], rounds: int,
                        warmup: int) -> dict[str, Any]:
    times: dict[str, dict[str, list[float]]] = {p: {n: [] for n in sides} for p in PAGES}
    store_times: dict[str, dict[str, list[float]]] = {p: {n: [] for n in sides} for p in PAGES}
    reads: dict[str, dict[str, list[int]]] = {p: {n: [] for n in sides} for p in PAGES}
    shown: dict[str, dict[str, dict[str, int]]] = {p: {} for p in PAGES}
    for index in range(rounds + warmup):  # warm-up rounds first, not recorded
        order = ("small", "large") if index % 2 == 0 else ("large", "small")
        for page, path in PAGES.items():
            for name in order:
                elapsed, in_store, read, body = await sides[name].get(path)
                if index < warmup:
                    shown[page][name] = check(name, sizes[name], page, body)
                    continue
                times[page][name].append(elapsed)
                store_times[page][name].append(in_store)
                reads[page][name].append(read)
    return {"times": times, "store": store_times, "reads": reads, "shown": shown}


async def measure_sqlite(size_large: int, runs_large: int, rounds: int,
                         warmup: int) -> dict[str, Any]:
    sizes = {"small": SMALL, "large": size_large}
    per_hot = {"small": RECENT, "large": hot_share(size_large, runs_large, 1)}
    with tempfile.TemporaryDirectory(prefix="zenjobs-bench-dash-") as tmp:
        seeded: dict[str, Any] = {}
        sides: dict[str, Side] = {}
        try:
            for name, size in sizes.items():
                path = Path(tmp) / f"{name}.sqlite3"
                began = time.perf_counter()
                runs, dead = seed_sqlite(path, registry(size), per_hot[name])
                seeded[name] = {"jobs": size, "runs": runs, "dead": dead,
                                "seconds": time.perf_counter() - began,
                                "mib": path.stat().st_size / 2**20}
                print(f"  sqlite {name}: {size:,} jobs, {runs:,} runs ({dead:,} dead) seeded "
                      f"in {seeded[name]['seconds']:.1f} s", flush=True)
                sides[name] = Side(registry(size), SqliteJobStore(path))
            data = await measure_sides(sides, sizes, rounds, warmup)
        finally:
            for side in sides.values():
                await side.close()
    return {**data, "seeded": seeded}


async def measure_firestore(size_large: int, runs_large: int, rounds: int, warmup: int,
                            other_every: int) -> dict[str, Any]:
    host = ensure_emulator()
    stamp = int(time.time())
    projects = {"small": f"bench-dash-small-{stamp}", "large": f"bench-dash-large-{stamp}"}
    sizes = {"small": SMALL, "large": size_large}
    per_hot = {"small": RECENT, "large": hot_share(size_large, runs_large, other_every)}
    seeded: dict[str, Any] = {}
    sides: dict[str, Side] = {}
    try:
        for name, project in projects.items():
            store = FirestoreJobStore(project, rpc_timeout=60.0)
            sides[name] = Side(registry(sizes[name]), store)
            began = time.perf_counter()
            runs, dead = await seed_firestore(store, registry(sizes[name]), per_hot[name],
                                              other_every if name == "large" else 1)
            seeded[name] = {"jobs": sizes[name], "runs": runs, "dead": dead,
                            "seconds": time.perf_counter() - began}
            print(f"  firestore {name}: {sizes[name]:,} jobs, {runs:,} runs ({dead:,} dead) "
                  f"seeded in {seeded[name]['seconds']:.1f} s", flush=True)
        data = await measure_sides(sides, sizes, rounds, warmup)
    finally:
        for side in sides.values():
            await side.close()
        for project in projects.values():
            reset(host, project)
    return {**data, "seeded": seeded}


# -- figures -------------------------------------------------------------------------------


def page_figures(store: str, label: str, data: dict[str, Any], emulator: bool) -> list[Figure]:
    seeded = data["seeded"]
    large, small = seeded["large"], seeded["small"]
    figures = []
    for page in PAGES:
        t_small = median(data["times"][page]["small"])
        t_large = median(data["times"][page]["large"])
        ratio = t_large / t_small
        met: bool | None = ratio <= RATIO_TARGET
        target = f"ratio <= {RATIO_TARGET}"
        if page == "jobs":  # page 1 shows 50 rows among 10,000 jobs but 10 among 10: the
            # like-for-like figure is jobs_q (the same 10 rows in both)
            met, target = None, f"ratio <= {RATIO_TARGET} (info: 50 rows vs 10)"
        elif emulator and not met:
            met, target = None, f"ratio <= {RATIO_TARGET} (info: the emulator scans)"
        figures.append(Figure(
            id=f"dashboard_{store}_{page}",
            title=f"{TITLES[page]}, {large['jobs']:,} jobs / {large['runs']:,} runs "
                  f"vs {small['jobs']} / {small['runs']:,} ({label})",
            value=t_large * 1000, unit="ms", target=target, met=met,
            baseline=t_small * 1000,
            baseline_label=f"{small['jobs']} jobs, {small['runs']:,} runs", ratio=ratio,
            details={
                "rounds": len(data["times"][page]["large"]),
                "times_small_s": data["times"][page]["small"],
                "times_large_s": data["times"][page]["large"],
                "store_small_ms": median(data["store"][page]["small"]) * 1000,
                "store_large_ms": median(data["store"][page]["large"]) * 1000,
                "rest_small_ms": (t_small - median(data["store"][page]["small"])) * 1000,
                "rest_large_ms": (t_large - median(data["store"][page]["large"])) * 1000,
                "shown_small": data["shown"][page]["small"],
                "shown_large": data["shown"][page]["large"],
                "reads_small": data["reads"][page]["small"][:1],
                "reads_large": data["reads"][page]["large"][:1],
                "seeded": seeded,
            }))
    return figures


def reads_figure(data: dict[str, Any]) -> Figure:
    reads_small = median(data["reads"]["jobs"]["small"])
    reads_large = median(data["reads"]["jobs"]["large"])
    rows_small = data["shown"]["jobs"]["small"]["rows"]
    rows_large = data["shown"]["jobs"]["large"]["rows"]
    jobs_large = data["seeded"]["large"]["jobs"]
    per_small, per_large = reads_small / rows_small, reads_large / rows_large
    return Figure(
        id="dashboard_firestore_reads",
        title=f"documents read per jobs list page 1 among {jobs_large:,} jobs ({rows_large} "
              f"rows) vs among {SMALL} ({rows_small}): {per_large:g} vs {per_small:g} per row",
        value=reads_large, unit="reads", target="per row shown, equal (info)", met=None,
        baseline=reads_small, baseline_label=f"{rows_small} rows among {SMALL}",
        ratio=reads_large / reads_small,
        details={"per_row_small": per_small, "per_row_large": per_large,
                 "reads": {p: {n: data["reads"][p][n][:1] for n in ("small", "large")}
                           for p in PAGES},
                 "note": "get_jobs reads 1 document per row, run_counts bills 1 read per "
                         "count() aggregation (4 per row, each under 1,000 entries)"})


def main() -> None:
    args = cli(__doc__ or "")
    size_large = 2_000 if args.quick else 10_000
    sqlite_runs = 100_000 if args.quick else 1_000_000
    firestore_runs = 5_000 if args.quick else 8_000
    rounds = 3 if args.quick else 15
    # The emulator's queries scan every run of the project (~20 ms per count() at 8,000
    # runs, 200 of them per jobs list page of 50 rows): fewer runs and rounds there.
    firestore_rounds = 3 if args.quick else 7
    warmup = 1 if args.quick else 2
    runners: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
        ("sqlite", lambda: measure_sqlite(size_large, sqlite_runs, rounds, warmup)),
        ("firestore", lambda: measure_firestore(size_large, firestore_runs, firestore_rounds,
                                                warmup, FIRESTORE_OTHER_EVERY)),
    ]
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, run in runners:
            results[name] = asyncio.run(run())
    finally:
        stop_started()
    figures = [*page_figures("sqlite", "SQLite", results["sqlite"], emulator=False),
               *page_figures("firestore", "Firestore emulator", results["firestore"],
                             emulator=True),
               reads_figure(results["firestore"])]
    publish("7. dashboard page scaling", figures, args.json)


if __name__ == "__main__":
    main()
