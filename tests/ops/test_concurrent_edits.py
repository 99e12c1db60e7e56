"""50 concurrent ``zenjobs`` edits from 50 processes: every one kept, every one recorded.

Issue 12, part 4: ``enable`` and ``set`` at the same moment lost one of the two
edits, because ``ops`` read the whole config and wrote it back. Each of 50
processes here runs one CLI edit (``disable``, ``set --cron`` or ``set
--timezone``; three fields of each of 17 jobs) against one SQLite file or the
Firestore emulator, all released at once (``tests/ops/edit_launcher.py`` forks
them after importing once). The final documents must hold all 50 values and
each job's history all its edits, with the actor each process gave
(``--actor`` or ``$ZENJOBS_ACTOR``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.ops.edit_registry import EDITS, JOB_IDS, Edit, jobs
from zenjobs import ops
from zenjobs.stores.protocol import JobStore
from zenjobs.stores.sqlite.store import SqliteJobStore

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 2, 10, 17, tzinfo=timezone.utc)
#: A ceiling for a loaded 2-core machine, never a wait: the launcher exits when done.
CEILING_S = 300.0


async def run_at_once(store_args: list[str], cwd: Path, *, actors: bool = True,
                      root: Path = ROOT) -> list[str]:
    """Run every edit of ``EDITS`` in its own process, released together; what failed.

    ``actors=False`` names no actor (for a CLI without ``--actor``); ``root`` is
    where the launcher imports zenjobs from (another checkout, to measure it).
    """
    out = cwd / "edit-results"
    out.mkdir()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("ZENJOBS_") and name != "GOOGLE_CLOUD_PROJECT"}
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(root), str(ROOT)]))
    flags = [] if actors else ["--no-actors"]
    launcher = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.ops.edit_launcher", str(out), *flags, *store_args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True)  # its own process group: the children go with it on a timeout
    try:
        stdout, stderr = await asyncio.wait_for(launcher.communicate(), CEILING_S)
    finally:
        if launcher.returncode is None:
            os.killpg(launcher.pid, signal.SIGKILL)
            await launcher.wait()
    failures = [] if launcher.returncode == 0 else [
        f"launcher exit {launcher.returncode}: {(stdout + stderr).decode()[-3000:]}"]
    for index, edit in enumerate(EDITS):
        path = out / f"{index}.json"
        result: dict[str, Any] = (json.loads(path.read_text()) if path.exists()
                                  else {"exit": None, "output": "(no result: see the launcher)"})
        if result["exit"] != 0:
            failures.append(f"{edit.args}: exit {result['exit']}: {str(result['output']).strip()}")
    return failures


async def lost_edits(store: JobStore) -> list[Edit]:
    """The edits whose value the stored documents do not hold."""
    lost = []
    for edit in EDITS:
        job = await store.get_job(edit.job_id)
        if job is None or getattr(job.config, edit.field) != edit.value:
            lost.append(edit)
    return lost


async def unrecorded_edits(store: JobStore) -> list[str]:
    """Differences between each job's recorded history and the edits made (with actors)."""
    expected = {(f"proc{index}", edit.job_id, edit.field, edit.args[0])
                for index, edit in enumerate(EDITS)}
    recorded = set()
    for job_id in JOB_IDS:
        for record in await store.list_edits(job_id, 50):
            assert len(record.changes) == 1, record
            recorded.add((record.actor, record.job_id, record.changes[0].field, record.command))
    return sorted(map(str, expected ^ recorded))


async def test_50_concurrent_cli_edits_on_one_sqlite_file_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "edits.sqlite3"
    async with SqliteJobStore(path) as store:
        await ops.sync(jobs, store, NOW)

    failures = await run_at_once(["--store", f"sqlite:{path}"], tmp_path)

    async with SqliteJobStore(path) as store:
        assert failures == []
        assert await lost_edits(store) == []
        assert await unrecorded_edits(store) == []


async def test_50_concurrent_cli_edits_on_firestore_are_all_kept(
        tmp_path: Path, firestore_project: str) -> None:
    from zenjobs.stores.firestore.store import FirestoreJobStore

    store = FirestoreJobStore(project=firestore_project, rpc_timeout=10.0)
    try:
        await ops.sync(jobs, store, NOW)

        failures = await run_at_once(["--store", "firestore", "--project", firestore_project],
                                     tmp_path)

        assert failures == []
        assert await lost_edits(store) == []
        assert await unrecorded_edits(store) == []
    finally:
        await store.close()
