"""Rendering: HCL literals, alignment, headers, determinism, terraform fmt, module copy."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from infra_support import (
    EXAMPLE_SETTINGS,
    HEAVY_SETTINGS,
    MODULE_DIR,
    PACKAGED_MODULE_DIR,
    generate_dir,
    tfharness,
    varied_registry,
)

from examples.newsletter.jobs import jobs as newsletter
from zenjobs import JobDescriptor
from zenjobs.infra.files import MODULE_DIR as OUT_MODULE_DIR
from zenjobs.infra.files import differences, generate, module_sources, write
from zenjobs.infra.plan import InfraSettings, build_plan
from zenjobs.infra.render import HEADER, aligned, hcl_string, hcl_value


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file()
    }


def test_hcl_literals() -> None:
    assert hcl_string('a"b\\c') == '"a\\"b\\\\c"'
    assert hcl_string("${var.x} %{if}") == '"$${var.x} %%{if}"'
    assert hcl_string("line\nnext") == '"line\\nnext"'
    assert hcl_value(True) == "true"
    assert hcl_value(20.0) == "20"
    assert hcl_value(0.5) == "0.5"
    assert hcl_value(7) == "7"
    assert hcl_value(timedelta(minutes=5)) == '"300s"'
    with pytest.raises(ValueError):
        hcl_value(float("nan"))


def test_aligned_pads_keys_to_the_longest() -> None:
    assert aligned([("a", 1), ("long_key", "x")]) == ['a        = 1', 'long_key = "x"']
    assert aligned([]) == []


def test_every_generated_file_starts_with_the_header() -> None:
    files = generate(build_plan(newsletter.descriptors, EXAMPLE_SETTINGS), "r:j")
    assert {"main.tf", "outputs.tf", "versions.tf"} <= set(files)
    assert {f"{OUT_MODULE_DIR}/{name}" for name in module_sources()} <= set(files)
    for rel, text in files.items():
        assert text.startswith(HEADER + "\n"), rel
        assert text.endswith("}\n"), rel


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = generate_dir(tmp_path / "one", newsletter.descriptors, EXAMPLE_SETTINGS)
    generate_dir(tmp_path / "two", reversed(newsletter.descriptors), EXAMPLE_SETTINGS)
    assert snapshot(tmp_path / "one") == snapshot(tmp_path / "two")
    assert differences(tmp_path / "one", generate(first, "tests:registry")) == []


def test_rewrite_touches_nothing_when_up_to_date(tmp_path: Path) -> None:
    plan = generate_dir(tmp_path, newsletter.descriptors, EXAMPLE_SETTINGS)
    stamp = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.tf")}
    os.utime(tmp_path / "main.tf", ns=(1, 1))
    assert write(tmp_path, generate(plan, "tests:registry")) == []
    assert (tmp_path / "main.tf").stat().st_mtime_ns == 1
    assert len(stamp) == len(generate(plan, "x"))


def test_stale_generated_files_are_removed_but_user_files_are_kept(tmp_path: Path) -> None:
    plan = generate_dir(tmp_path, newsletter.descriptors, EXAMPLE_SETTINGS)
    (tmp_path / "old.tf").write_text(HEADER + "\n")
    (tmp_path / "backend.tf").write_text('terraform {\n  backend "gcs" {}\n}\n')
    changes = write(tmp_path, generate(plan, "tests:registry"))
    assert [(c.path, c.reason) for c in changes] == [("old.tf", "stale")]
    assert not (tmp_path / "old.tf").exists()
    assert (tmp_path / "backend.tf").exists()


@pytest.mark.parametrize(
    ("descriptors", "settings"),
    [
        (newsletter.descriptors, EXAMPLE_SETTINGS),
        (varied_registry(), HEAVY_SETTINGS),
    ],
    ids=["newsletter", "varied-heavy-worker"],
)
def test_generated_files_are_terraform_fmt_clean(
    tmp_path: Path, descriptors: list[JobDescriptor], settings: InfraSettings
) -> None:
    generate_dir(tmp_path, descriptors, settings)
    assert tfharness().terraform_fmt_check(tmp_path) == []


def test_the_module_is_terraform_fmt_clean() -> None:
    assert tfharness().terraform_fmt_check(MODULE_DIR) == []


def test_heavy_worker_variant_passes_terraform_validate(tmp_path: Path) -> None:
    generate_dir(tmp_path, varied_registry(), HEAVY_SETTINGS)
    result = tfharness().terraform_validate(tmp_path)
    assert result.valid, str(result)


def test_packaged_module_is_the_canonical_module() -> None:
    # One source: the package path is a symlink to terraform/modules/zenjobs.
    assert PACKAGED_MODULE_DIR.resolve() == MODULE_DIR.resolve()
    canonical = {p.name for p in MODULE_DIR.iterdir() if p.is_file()}
    assert set(module_sources()) == {n for n in canonical if n.endswith(".tf")}
