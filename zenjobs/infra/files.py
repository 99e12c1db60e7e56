"""Assembling, writing and checking the generated directory.

The output directory is self-contained: next to the rendered root files it
carries a copy of the zenjobs Terraform module under ``modules/zenjobs/``, so
``terraform init`` there needs nothing but the provider.

Where the module copy comes from: always the package data in
``zenjobs/infra/module/``, so the output is the same whether zenjobs runs from
a checkout or from a wheel. In the repository that path is a symlink to the
one hand-edited module, ``terraform/modules/zenjobs/``; building a wheel copies
the files it points to, so there is a single source and nothing to drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .plan import InfraPlan
from .render import HEADER, render_root

MODULE_DIR = "modules/zenjobs"
#: Second header line of every module copy, pointing at the file to edit instead.
MODULE_NOTE = "# a copy of the zenjobs Terraform module; edit terraform/modules/zenjobs upstream"


def module_sources() -> dict[str, str]:
    """The packaged module's ``*.tf`` files, by file name (sorted)."""
    root = resources.files("zenjobs.infra").joinpath("module")
    texts = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in root.iterdir()
        if entry.is_file() and entry.name.endswith(".tf")
    }
    return dict(sorted(texts.items()))


def generate(plan: InfraPlan, registry: str) -> dict[str, str]:
    """Every file of the output directory (relative POSIX path → text), sorted."""
    files = render_root(plan, registry)
    for name, text in module_sources().items():
        files[f"{MODULE_DIR}/{name}"] = f"{HEADER}\n{MODULE_NOTE}\n\n{text}"
    return dict(sorted(files.items()))


@dataclass(frozen=True)
class Difference:
    path: str
    reason: str  # "missing", "differs" or "stale"


def differences(out: Path, files: Mapping[str, str]) -> list[Difference]:
    """How ``out`` differs from ``files``; stale = an old generated file we no longer write."""
    found: list[Difference] = []
    for rel, text in files.items():
        path = out / rel
        if not path.is_file():
            found.append(Difference(rel, "missing"))
        elif path.read_bytes() != text.encode("utf-8"):
            found.append(Difference(rel, "differs"))
    found.extend(Difference(rel, "stale") for rel in _stale(out, files))
    return found


def write(out: Path, files: Mapping[str, str]) -> list[Difference]:
    """Bring ``out`` up to date; touches only files that differ. Returns what changed."""
    changes = differences(out, files)
    for change in changes:
        path = out / change.path
        if change.reason == "stale":
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[change.path].encode("utf-8"))
    return changes


def _stale(out: Path, files: Mapping[str, str]) -> list[str]:
    """Generated ``*.tf`` files (they carry our header) that are no longer produced."""
    stale: list[str] = []
    for directory in (out, out / MODULE_DIR):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.tf")):
            rel = path.relative_to(out).as_posix()
            if rel not in files and _is_generated(path):
                stale.append(rel)
    return stale


def _is_generated(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.readline().rstrip(b"\r\n") == HEADER.encode("utf-8")
    except OSError:
        return False
