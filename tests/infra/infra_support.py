"""Shared helpers of the gen-infra tests (test_plan, test_render, test_policy, test_cli_infra).

Generated directories are written with the library functions the CLI uses; the
offline Terraform harness (tfharness.py, owned by the validation tests) is
imported from this directory.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import hcl2

from zenjobs import JobDescriptor, JobType, RateLimit, Weight
from zenjobs.infra.files import generate, write
from zenjobs.infra.plan import InfraPlan, InfraSettings, build_plan

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
MODULE_DIR = REPO / "terraform" / "modules" / "zenjobs"
PACKAGED_MODULE_DIR = REPO / "zenjobs" / "infra" / "module"
EXAMPLE_INFRA = REPO / "examples" / "newsletter" / "infra"
EXAMPLE_REGISTRY = "examples.newsletter.jobs:jobs"
EXAMPLE_ARGS = (
    "--registry", EXAMPLE_REGISTRY,
    "--project", "demo-project",
    "--region", "europe-west1",
    "--service", "newsletter",
    "--service-url", "https://newsletter-abc-ew.a.run.app",
)  # fmt: skip
EXAMPLE_SETTINGS = InfraSettings(
    project="demo-project",
    region="europe-west1",
    service="newsletter",
    service_url="https://newsletter-abc-ew.a.run.app",
)

HEAVY_SETTINGS = InfraSettings(
    project="demo-project",
    region="us-central1",
    service="api",
    service_url="https://api-xyz-uc.a.run.app",
    heavy_service="api-heavy",
    heavy_service_url="https://api-heavy-xyz-uc.a.run.app",
    runtime_service_account="api-runtime@demo-project.iam.gserviceaccount.com",
)


def varied_registry() -> list[JobDescriptor]:
    """Custom queues, fractional rates, heavy, every type: exercises every template branch."""
    return [
        JobDescriptor(
            id="mail",
            type=JobType.ENDPOINT,
            queue="outbound-mail",
            rate_limit=RateLimit(max_dispatches_per_second=0.5),
        ),
        JobDescriptor(
            id="mail_bulk",
            type=JobType.ENDPOINT,
            queue="outbound-mail",
            rate_limit=RateLimit(max_concurrent_dispatches=3),
        ),
        JobDescriptor(id="tick", type=JobType.PERIODIC, interval=timedelta(minutes=90)),
        JobDescriptor(
            id="crunch",
            type=JobType.SCHEDULED,
            cron="0 3 * * *",
            timezone="America/New_York",
            weight=Weight.HEAVY,
            timeout=timedelta(minutes=45),
        ),
    ]


def tfharness() -> ModuleType:
    """The offline Terraform harness next to this file."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module("tfharness")


def generate_dir(
    out: Path, descriptors: Iterable[JobDescriptor], settings: InfraSettings
) -> InfraPlan:
    plan = build_plan(descriptors, settings)
    write(out, generate(plan, "tests:registry"))
    return plan


def unquote(value: Any) -> Any:
    """python-hcl2 keeps string quotes (``'"x"'``); strip them from keys and literal strings."""
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def parse_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.tf`` file under ``directory`` (relative path → parsed, unquoted)."""
    parsed: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.rglob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed[path.relative_to(directory).as_posix()] = unquote(hcl2.load(handle))
    return parsed


def resources(parsed: dict[str, dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """All resources of type ``kind`` across files, by ``file:name``."""
    found: dict[str, dict[str, Any]] = {}
    for rel, doc in parsed.items():
        for block in doc.get("resource", []):
            for name, body in block.get(kind, {}).items():
                found[f"{rel}:{name}"] = body
    return found


def walk_strings(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from walk_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_strings(item)
    elif isinstance(value, str):
        yield value
