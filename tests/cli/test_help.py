"""Every ``--help`` ends with an example (click's epilog), and shows the global options."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from zenjobs.cli import main

from .support import zj

#: ``zenjobs dev`` belongs to the dev console; its help is checked in tests/dev.
NOT_HERE = {("dev",)}


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        if path in NOT_HERE:
            continue
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


PATHS = [(), *command_paths(main)]


def test_every_command_is_covered() -> None:
    names = {path[0] for path in PATHS if path}
    assert names >= {"validate", "list", "next", "gen-infra", "sync", "enable", "disable", "set",
                     "status", "trigger", "replay", "scheduler"}


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "zenjobs")
def test_help_shows_an_example(path: tuple[str, ...]) -> None:
    result = zj(*path, "--help")

    assert result.exit_code == 0, result.output
    after = result.stdout.split("Examples:\n", 1)
    assert len(after) == 2, result.stdout
    examples = [line.strip() for line in after[1].splitlines() if line.strip()]
    assert examples and all(line.startswith("$ ") and "zenjobs" in line for line in examples)
    # Each example runs the command it documents.
    assert all(" ".join(path) in line for line in examples), examples


def test_every_command_with_a_result_takes_json() -> None:
    for path in command_paths(main):
        command: click.Command | None = main
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        if isinstance(command, click.Group):
            continue
        assert command is not None
        assert any(p.name == "as_json" for p in command.params), path


def test_the_group_help_lists_the_global_options() -> None:
    text = zj("--help").stdout
    for option in ("--registry", "--store", "--project", "--debug"):
        assert option in text
