"""Registry rules that need several jobs or a handler, and finding the registry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from zenjobs import (
    DefinitionError,
    JobContext,
    JobDescriptor,
    JobType,
    Problem,
    RegistryLoadError,
    RegistryValidationError,
    UnknownJobError,
    Weight,
    ZenJobs,
)
from zenjobs.loader import load_registry, resolve_registry_spec


async def async_handler(ctx: JobContext) -> None:
    """A well-formed handler for light and medium jobs."""


def blocking_handler(ctx: JobContext) -> None:
    """A synchronous handler: only a heavy job may have one."""


class AsyncCallable:
    """An object whose ``__call__`` is a coroutine function is an async handler too."""

    async def __call__(self, ctx: JobContext) -> None: ...


def descriptor(job_id: str, *deps: str, **fields: Any) -> JobDescriptor:
    return JobDescriptor(id=job_id, type=JobType.ENDPOINT, dependencies=deps, **fields)


def registry_of(*descriptors: JobDescriptor, handlers: bool = True) -> ZenJobs:
    jobs = ZenJobs()
    for d in descriptors:
        jobs.register(d)
        if handlers:
            jobs.register_handler(d.id, async_handler)
    return jobs


def only_problem(jobs: ZenJobs, **kwargs: Any) -> Problem:
    problems = jobs.problems(**kwargs)
    assert len(problems) == 1, problems
    return problems[0]


# -- registering ----------------------------------------------------------


def test_registering_keeps_order_and_supports_lookups() -> None:
    jobs = registry_of(descriptor("b"), descriptor("a"))
    assert [d.id for d in jobs] == ["b", "a"]
    assert len(jobs) == 2
    assert "a" in jobs and "zzz" not in jobs
    assert jobs.get("a").id == "a"
    assert jobs.handler_for("a") is async_handler
    assert jobs.has_handler("b")
    jobs.validate()  # a complete registry raises nothing
    assert jobs.problems() == []


def test_registering_an_id_twice_is_an_error() -> None:
    jobs = registry_of(descriptor("cleanup"))
    with pytest.raises(DefinitionError) as info:
        jobs.register(descriptor("cleanup", max_retries=5))
    assert (info.value.job_id, info.value.field) == ("cleanup", "id")
    assert jobs.get("cleanup").max_retries == 3  # the first one stays


def test_registering_a_second_handler_is_an_error() -> None:
    jobs = registry_of(descriptor("cleanup"))
    with pytest.raises(DefinitionError) as info:
        jobs.register_handler("cleanup", async_handler)
    assert (info.value.job_id, info.value.field) == ("cleanup", "handler")


def test_register_takes_only_descriptors() -> None:
    with pytest.raises(TypeError):
        ZenJobs().register({"id": "x"})  # type: ignore[arg-type]


def test_unknown_job_lookup_raises_unknown_job_error() -> None:
    with pytest.raises(UnknownJobError) as info:
        ZenJobs().get("nope")
    assert info.value.job_id == "nope"


def test_handler_for_a_job_without_handler_names_job_and_field() -> None:
    jobs = registry_of(descriptor("orphan"), handlers=False)
    with pytest.raises(DefinitionError) as info:
        jobs.handler_for("orphan")
    assert (info.value.job_id, info.value.field) == ("orphan", "handler")


def test_job_decorator_declares_descriptor_and_handler() -> None:
    jobs = ZenJobs()

    @jobs.job("cleanup", type="periodic", interval=timedelta(hours=1))
    async def cleanup(ctx: JobContext) -> None: ...

    assert jobs.get("cleanup").type is JobType.PERIODIC
    assert jobs.handler_for("cleanup") is cleanup


def test_job_decorator_reports_bad_fields_when_declared() -> None:
    jobs = ZenJobs()
    with pytest.raises(DefinitionError) as info:
        jobs.job("poll", type="periodic", interval=timedelta(seconds=90))
    assert (info.value.job_id, info.value.field) == ("poll", "interval")
    assert len(jobs) == 0


# -- handlers ---------------------------------------------------------------


@pytest.mark.parametrize("weight", [Weight.LIGHT, Weight.MEDIUM])
def test_sync_handler_on_a_non_heavy_job_is_refused(weight: Weight) -> None:
    jobs = registry_of(descriptor("resize", weight=weight), handlers=False)
    with pytest.raises(DefinitionError) as info:
        jobs.register_handler("resize", blocking_handler)
    assert (info.value.job_id, info.value.field) == ("resize", "handler")
    assert "weight='heavy'" in str(info.value)


def test_sync_handler_registered_before_its_descriptor_is_refused_at_register() -> None:
    jobs = ZenJobs()
    jobs.register_handler("resize", blocking_handler)
    with pytest.raises(DefinitionError) as info:
        jobs.register(descriptor("resize"))
    assert (info.value.job_id, info.value.field) == ("resize", "handler")


def test_sync_handler_via_the_job_decorator_is_refused() -> None:
    jobs = ZenJobs()
    with pytest.raises(DefinitionError) as info:

        @jobs.job("resize", type="endpoint")
        def resize(ctx: JobContext) -> None: ...

    assert (info.value.job_id, info.value.field) == ("resize", "handler")
    assert "resize" not in jobs  # nothing half-registered


def test_sync_module_level_handler_on_a_heavy_job_is_accepted() -> None:
    jobs = registry_of(descriptor("resize", weight="heavy"), handlers=False)
    jobs.register_handler("resize", blocking_handler)
    assert jobs.problems() == []


def test_async_callable_object_is_an_async_handler() -> None:
    jobs = registry_of(descriptor("notify"), handlers=False)
    jobs.register_handler("notify", AsyncCallable())
    assert jobs.problems() == []


def _nested() -> Callable[[JobContext], None]:
    def inner(ctx: JobContext) -> None: ...

    return inner


@pytest.mark.parametrize(
    "handler",
    [
        lambda ctx: None,
        _nested(),
        functools.partial(blocking_handler),
    ],
    ids=["lambda", "nested", "partial"],
)
def test_heavy_handler_must_be_importable_by_name(handler: Callable[..., Any]) -> None:
    jobs = registry_of(descriptor("resize", weight="heavy"), handlers=False)
    with pytest.raises(DefinitionError) as info:
        jobs.register_handler("resize", handler)
    assert (info.value.job_id, info.value.field) == ("resize", "handler")
    assert "module-level function" in str(info.value)


def test_non_callable_handler_is_refused() -> None:
    jobs = registry_of(descriptor("x"), handlers=False)
    with pytest.raises(DefinitionError) as info:
        jobs.register_handler("x", "not a function")  # type: ignore[arg-type]
    assert (info.value.job_id, info.value.field) == ("x", "handler")


def test_missing_handler_is_a_problem_only_when_handlers_are_required() -> None:
    jobs = registry_of(descriptor("orphan"), handlers=False)
    assert only_problem(jobs) == Problem("orphan", "handler", "no handler registered")
    assert jobs.problems(require_handlers=False) == []
    jobs.validate(require_handlers=False)


def test_handler_for_an_unregistered_job_is_a_problem() -> None:
    jobs = ZenJobs()
    jobs.register_handler("ghost", async_handler)
    problem = only_problem(jobs)
    assert (problem.job_id, problem.field) == ("ghost", "handler")


# -- dependencies -------------------------------------------------------------


def test_missing_dependency_names_job_and_field() -> None:
    jobs = registry_of(descriptor("digest", "nightly_reprot"))
    assert only_problem(jobs) == Problem("digest", "dependencies", "unknown job 'nightly_reprot'")


def test_two_cycle_is_reported_once_with_its_path() -> None:
    jobs = registry_of(descriptor("a", "b"), descriptor("b", "a"))
    problem = only_problem(jobs)
    assert problem.field == "dependencies"
    assert problem.job_id in {"a", "b"}
    assert problem.message == "dependency cycle: a -> b -> a"


def test_three_cycle_is_reported_once_with_its_path() -> None:
    jobs = registry_of(
        descriptor("extract", "load"),
        descriptor("transform", "extract"),
        descriptor("load", "transform"),
    )
    problem = only_problem(jobs)
    assert (problem.job_id, problem.field) == ("extract", "dependencies")
    assert problem.message == "dependency cycle: extract -> load -> transform -> extract"


def test_diamond_dependencies_are_not_a_cycle() -> None:
    jobs = registry_of(
        descriptor("base"),
        descriptor("left", "base"),
        descriptor("right", "base"),
        descriptor("top", "left", "right"),
    )
    assert jobs.problems() == []


def test_long_dependency_chain_does_not_hit_the_recursion_limit() -> None:
    chain = [descriptor("j0")] + [descriptor(f"j{i}", f"j{i - 1}") for i in range(1, 3000)]
    jobs = registry_of(*chain, descriptor("loop_a", "loop_b"), descriptor("loop_b", "loop_a"))
    assert [p.message for p in jobs.problems()] == ["dependency cycle: loop_a -> loop_b -> loop_a"]


def test_validate_lists_every_problem_in_one_error() -> None:
    jobs = registry_of(descriptor("a", "missing"), descriptor("b", "c"), descriptor("c", "b"))
    jobs.register(descriptor("orphan"))
    with pytest.raises(RegistryValidationError) as info:
        jobs.validate()
    lines = str(info.value).splitlines()
    assert lines == [
        "job 'a', field 'dependencies': unknown job 'missing'",
        "job 'orphan', field 'handler': no handler registered",
        "job 'b', field 'dependencies': dependency cycle: b -> c -> b",
    ]
    assert len(info.value.problems) == 3
    assert isinstance(info.value, DefinitionError)


# -- finding the registry ----------------------------------------------------


def test_explicit_spec_wins_over_environment_and_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.zenjobs]\nregistry = "from_toml:jobs"\n')
    env = {"ZENJOBS_REGISTRY": "from_env:jobs"}
    assert resolve_registry_spec("explicit:jobs", env, tmp_path) == "explicit:jobs"
    assert resolve_registry_spec(None, env, tmp_path) == "from_env:jobs"
    assert resolve_registry_spec(None, {}, tmp_path) == "from_toml:jobs"


def test_no_registry_anywhere_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryLoadError, match="--registry"):
        resolve_registry_spec(None, {}, tmp_path)


def test_unreadable_pyproject_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.zenjobs\n")
    with pytest.raises(RegistryLoadError, match="cannot read"):
        resolve_registry_spec(None, {}, tmp_path)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_colon", "must look like 'module:attribute'"),
        ("tests.unit.registries.not_importable:jobs", "ModuleNotFoundError"),
        ("tests.unit.registries.no_such_module:jobs", "cannot import registry module"),
        ("tests.unit.registries.cycle:nope", "has no attribute 'nope'"),
        ("tests.unit.registries.not_a_registry:jobs", "not a zenjobs.ZenJobs registry"),
    ],
)
def test_load_errors_explain_themselves(spec: str, message: str) -> None:
    with pytest.raises(RegistryLoadError, match=message.replace(".", r"\.")):
        load_registry(spec)


def test_definition_error_while_importing_propagates_with_job_and_field() -> None:
    with pytest.raises(DefinitionError) as info:
        load_registry("tests.unit.registries.unknown_tz:jobs")
    assert (info.value.job_id, info.value.field) == ("martian_report", "timezone")


def test_a_factory_attribute_is_called(tmp_path: Path) -> None:
    (tmp_path / "factory_registry.py").write_text(
        "from zenjobs import ZenJobs\n\ndef make():\n    return ZenJobs()\n"
    )
    assert isinstance(load_registry("factory_registry:make", cwd=tmp_path), ZenJobs)
