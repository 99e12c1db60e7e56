"""The sdist: regular files only, and `pip install <sdist>` builds a wheel that works."""

from __future__ import annotations

import tarfile
from pathlib import Path

from .packaging_support import Dists, package_data, run
from .test_wheel import SERVICE_ARGS


def test_the_sdist_carries_the_module_as_regular_files(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as archive:
        members = archive.getmembers()
        top = members[0].name.split("/")[0]
        links = [m.name for m in members if m.issym() or m.islnk()]
        assert links == []
        by_name = {m.name.removeprefix(f"{top}/"): m for m in members}
        for name, data in package_data().items():
            assert name in by_name and by_name[name].isfile(), f"{name} missing from the sdist"
            extracted = archive.extractfile(by_name[name])
            assert extracted is not None and extracted.read() == data, name
    for needed in ("pyproject.toml", "README.md", "LICENSE", "PKG-INFO"):
        assert needed in by_name, needed
    junk = [n for n in by_name if "__pycache__" in n or n.startswith((".venv", ".zenjobs"))]
    assert junk == []


def test_pip_install_of_the_sdist_builds_a_working_package(sdist_venv: Path,
                                                           service: Path) -> None:
    python = sdist_venv / "bin" / "python"
    where = run([python, "-c", "import zenjobs; print(zenjobs.__file__)"], cwd=service,
                venv=sdist_venv).stdout.strip()
    assert Path(where).resolve().is_relative_to(sdist_venv.resolve())
    zenjobs = sdist_venv / "bin" / "zenjobs"
    run([zenjobs, "validate", "--registry", "registry:jobs"], cwd=service, venv=sdist_venv)
    run([zenjobs, "gen-infra", "--registry", "registry:jobs", "--out", "infra", *SERVICE_ARGS],
        cwd=service, venv=sdist_venv)
    copied = service / "infra" / "modules" / "zenjobs"
    expected = sorted(n.rsplit("/", 1)[-1] for n in package_data()
                      if n.startswith("zenjobs/infra/module/") and n.endswith(".tf"))
    assert sorted(p.name for p in copied.iterdir()) == expected
    assert all(p.is_file() and not p.is_symlink() for p in copied.iterdir())
