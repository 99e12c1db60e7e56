"""The FastAPI example (examples/fastapi_app) as a user runs it: its module-level app, served.

The module builds its executor at import time from ``ZENJOBS_MODE`` (unset:
development, a SQLite store under the working directory), so it is imported
once, in a temporary working directory with no zenjobs variables set.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.routing import Mount

from zenjobs.stores.records import RunStatus

from .test_mount import served


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    for name in list(sys.modules):
        if name.startswith("examples.fastapi_app"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.chdir(tmp_path)
    for name in ("ZENJOBS_MODE", "K_SERVICE"):
        monkeypatch.delenv(name, raising=False)
    module = importlib.import_module("examples.fastapi_app.app")
    assert (tmp_path / ".zenjobs" / "dev.sqlite3").exists()
    return module


async def test_the_fastapi_example_serves_its_routes_and_the_runtime(
        example: ModuleType) -> None:
    executor = example.executor
    assert executor.mode == "development"
    assert [getattr(r, "path", None) for r in example.app.routes][:1] == ["/_zenjobs"]
    assert not any(isinstance(r, Mount) and r.path == "" for r in example.app.routes)

    async with served(example.app) as base, \
            httpx.AsyncClient(base_url=base, trust_env=False) as http:
        index = await http.get("/")
        assert index.status_code == 200
        assert index.json() == {"service": "shop", "mode": "development",
                                "jobs": ["refresh_prices", "send_receipt"]}
        order = {"order_id": "o-1", "email": "ada@example.com"}
        placed = await http.post("/orders", json=order)
        assert placed.status_code == 202, placed.text
        again = await http.post("/orders", json=order)
        assert again.json()["execution_id"] == placed.json()["execution_id"]  # one receipt
        assert (await http.get("/orders/o-1")).json() == order
        missing = await http.get("/orders/o-2")
        assert missing.status_code == 404 and missing.json() == {"detail": "no order 'o-2'"}
        assert (await http.post("/orders", json={"order_id": ""})).status_code == 422
        health = await http.get("/_zenjobs/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"

        # Development without `zenjobs dev`: the simulated queue is driven by hand here.
        assert await executor.queue.dispatch_due() == 2  # the startup refresh, the receipt
        receipt = await executor.store.get_run("send_receipt", placed.json()["execution_id"])
        assert receipt is not None and receipt.status is RunStatus.SUCCESS
        assert receipt.payload == order
        refreshes = await executor.store.list_runs("refresh_prices", 10)
        assert [r.status for r in refreshes] == [RunStatus.SUCCESS]
