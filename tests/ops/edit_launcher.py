"""Fork one process per edit of ``EDITS`` and release them together: 50 concurrent CLI edits.

``python -m tests.ops.edit_launcher OUT_DIR [--no-actors] STORE_ARGS...``

The launcher imports the CLI, the registry and (for a Firestore store) the SDK
once, then forks a child per edit: separate OS processes, each opening its own
store connection (SQLite file handle, gRPC channel) after the fork, as 50
``zenjobs`` commands started from 50 terminals would. Importing in each of 50
fresh interpreters cost a loaded 2-core machine about a second apiece; forking
after the imports costs milliseconds. Every child blocks on one byte of a shared
pipe, and the launcher writes all the bytes at once when every child is forked,
so the edits overlap instead of spreading over start-up.

Child ``i`` runs ``zenjobs ARGS... --registry tests.ops.edit_registry:jobs
STORE_ARGS...`` through click's runner, naming actor ``proc{i}`` with
``--actor`` (even ``i``) or ``$ZENJOBS_ACTOR`` (odd ``i``) unless
``--no-actors``, and writes ``OUT_DIR/{i}.json``: ``{"exit": code, "output": text}``.
The launcher exits 0 once every child has written its file.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

REGISTRY = "tests.ops.edit_registry:jobs"


def _child(index: int, args: list[str], out: Path, actors: bool) -> None:
    from click.testing import CliRunner

    from zenjobs.cli import main

    argv = [*args, "--registry", REGISTRY]
    env: dict[str, str | None] = {"ZENJOBS_ACTOR": None}
    if actors and index % 2 == 0:
        argv += ["--actor", f"proc{index}"]
    elif actors:
        env["ZENJOBS_ACTOR"] = f"proc{index}"
    result = CliRunner().invoke(main, argv, env=env)
    text = result.output + (repr(result.exception) if result.exit_code not in (0, 1, 2, 3, 4)
                            else "")
    (out / f"{index}.json").write_text(json.dumps({"exit": result.exit_code, "output": text}))


def main(argv: list[str]) -> int:
    out, rest = Path(argv[0]), argv[1:]
    actors = "--no-actors" not in rest
    store_args = [arg for arg in rest if arg != "--no-actors"]
    from tests.ops.edit_registry import EDITS
    from zenjobs.cli import main as _cli  # noqa: F401  (imported once, before the forks)

    if any(arg.startswith("firestore") for arg in store_args):
        import google.cloud.firestore  # noqa: F401

        import zenjobs.stores.firestore.store  # noqa: F401
    release_r, release_w = os.pipe()
    children = []
    for index, edit in enumerate(EDITS):
        pid = os.fork()
        if pid == 0:  # the child: wait for the release, run one command, never return
            code = 1
            try:
                os.close(release_w)
                if os.read(release_r, 1) == b"g":
                    _child(index, [*edit.args, *store_args], out, actors)
                    code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)
    os.close(release_r)
    os.write(release_w, b"g" * len(children))
    os.close(release_w)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
