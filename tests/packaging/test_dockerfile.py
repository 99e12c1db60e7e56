"""examples/newsletter/Dockerfile follows the Cloud Run conventions (no Docker engine here).

What can be checked without building the image is: each instruction rule (a pinned
base image, a non-root user, the dependency layer before any source, zenjobs installed
from its wheel), the .dockerignore rules, and the build itself, simulated: the wheel
stage's COPYs are replayed from the repository (honouring .dockerignore, keeping
symlinks as Docker does) into a temporary directory, its `pip wheel` command is run
there, and the resulting wheel must carry the Terraform module and package data. The
runtime stage's application files are replayed too and imported with the installed
wheel under the image's environment.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from .packaging_support import REPO, Dists, package_data, run

DOCKERFILE = REPO / "examples" / "newsletter" / "Dockerfile"
IGNORE_FILES = (REPO / "examples" / "newsletter" / "Dockerfile.dockerignore",
                REPO / ".dockerignore")
PINNED_BASE = re.compile(r"^python:3\.12\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?$")
PRODUCTION_SETTINGS = {  # what Cloud Run's service configuration would set
    "ZENJOBS_PROJECT": "demo-project",
    "ZENJOBS_LOCATION": "europe-west1",
    "ZENJOBS_SERVICE_URL": "https://newsletter-abc-ew.a.run.app",
    "ZENJOBS_INVOKER_SA": "zj-invoker@demo-project.iam.gserviceaccount.com",
    "K_SERVICE": "newsletter",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comment lines dropped (as Docker)."""
    found: list[Instruction] = []
    stage = -1
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        pending = ""
        if keyword.upper() == "FROM":
            stage += 1
        found.append(Instruction(keyword.upper(), args.strip(), stage))
    return found


INSTRUCTIONS = parse(DOCKERFILE.read_text())
FINAL = max(i.stage for i in INSTRUCTIONS)
FINAL_STAGE = [i for i in INSTRUCTIONS if i.stage == FINAL]


def stage_names() -> dict[str, int]:
    names = {}
    for i in INSTRUCTIONS:
        if i.keyword == "FROM" and " as " in i.args.lower():
            names[i.args.split()[-1]] = i.stage
    return names


def copy_parts(args: str) -> tuple[dict[str, str], list[str], str]:
    """``COPY [--flag=value ...] SRC... DEST`` → (flags, sources, dest)."""
    words = shlex.split(args)
    flags = dict(w[2:].split("=", 1) for w in words if w.startswith("--"))
    paths = [w for w in words if not w.startswith("--")]
    return flags, paths[:-1], paths[-1]


def test_the_base_image_is_pinned_to_a_patch_release() -> None:
    names = stage_names()
    images = [i.args.split()[0] for i in INSTRUCTIONS if i.keyword == "FROM"]
    bases = [image for image in images if image not in names]
    assert bases and all(PINNED_BASE.match(image) for image in bases), bases
    assert len(set(bases)) == 1, f"the stages use different bases: {bases}"
    assert "digest" in DOCKERFILE.read_text()  # says why the digest is not pinned


def test_the_service_runs_as_a_non_root_user() -> None:
    users = [i for i in FINAL_STAGE if i.keyword == "USER"]
    assert users, "the runtime stage never switches user"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), user
    created = [i for i in FINAL_STAGE if i.keyword == "RUN" and "useradd" in i.args]
    assert created and FINAL_STAGE.index(created[0]) < FINAL_STAGE.index(users[-1])
    if user.isdigit():
        assert f"--uid {user}" in created[0].args
    else:
        assert user in shlex.split(created[0].args)
    cmd = next(i for i in FINAL_STAGE if i.keyword == "CMD")
    assert FINAL_STAGE.index(users[-1]) < FINAL_STAGE.index(cmd)


def test_the_dependency_layer_comes_before_any_source(tmp_path: Path) -> None:
    deps = next(i for i in FINAL_STAGE if i.keyword == "RUN" and "pip install -r" in i.args)
    copies = [i for i in FINAL_STAGE if i.keyword == "COPY"]
    before = [i for i in copies if FINAL_STAGE.index(i) < FINAL_STAGE.index(deps)]
    after = [i for i in copies if FINAL_STAGE.index(i) > FINAL_STAGE.index(deps)]
    assert [copy_parts(i.args)[1] for i in before] == [["pyproject.toml"]]
    assert after and any("from" in copy_parts(i.args)[0] for i in after)  # the wheel
    # The layer's own Python one-liner, run on the repository's pyproject.toml, must list
    # exactly the project's dependencies.
    code = re.search(r'python -c "([^"]+)"', deps.args)
    assert code is not None, deps.args
    dest = copy_parts(before[0].args)[2]
    script = code.group(1).replace(dest, str(REPO / "pyproject.toml"))
    script = script.replace("/tmp/requirements.txt", str(tmp_path / "requirements.txt"))
    run([sys.executable, "-c", script], cwd=tmp_path)
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert (tmp_path / "requirements.txt").read_text().splitlines() == declared


def test_the_runtime_stage_installs_the_built_wheel() -> None:
    names = stage_names()
    wheel_copies = [copy_parts(i.args) for i in FINAL_STAGE
                    if i.keyword == "COPY" and "from" in copy_parts(i.args)[0]]
    assert len(wheel_copies) == 1
    builder = names[wheel_copies[0][0]["from"]]
    builds = [i for i in INSTRUCTIONS if i.stage == builder and i.keyword == "RUN"]
    assert any(re.search(r"\bpip wheel\b|-m build\b", i.args) for i in builds), builds
    installs = [i.args for i in FINAL_STAGE if i.keyword == "RUN" and "pip install" in i.args]
    assert any(re.search(r"pip install \S+\.whl", args) for args in installs), installs
    source_installs = [a for a in installs if re.search(r"pip install (-e |\.(\s|$))", a)]
    assert source_installs == []


# --- .dockerignore -----------------------------------------------------------------------


def ignore_patterns(path: Path) -> list[tuple[re.Pattern[str], bool]]:
    """Docker's .dockerignore rules as (regex, is_exception); ``**`` spans directories."""
    patterns = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip().lstrip("/"))
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i:end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((re.compile(f"^{regex}$"), negate))
    return patterns


def ignored(relative: str, patterns: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Docker excludes a path when it, or one of its parent directories, matches."""
    parts = PurePosixPath(relative).parts
    result = False
    for regex, negate in patterns:
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            result = not negate
    return result


PATTERNS = ignore_patterns(IGNORE_FILES[0])


def test_the_two_dockerignore_files_are_the_same() -> None:
    assert IGNORE_FILES[0].read_text() == IGNORE_FILES[1].read_text()


@pytest.mark.parametrize("path", [
    ".venv/bin/python", ".zenjobs/dev.sqlite3", ".emulators/tasks-venv/bin/python",
    "tests/test_smoke.py", ".git/HEAD", "benchmarks/run.py", "dist/zenjobs-0.1.0.tar.gz",
    "examples/newsletter/.zenjobs/dev.sqlite3", "zenjobs/__pycache__/cli.cpython-312.pyc",
    "zenjobs.egg-info/PKG-INFO", "examples/newsletter/infra/main.tf",
])
def test_the_dockerignore_keeps_local_state_out(path: str) -> None:
    assert ignored(path, PATTERNS)


# --- The build, simulated -----------------------------------------------------------------


def replay_copies(stage: int, root: Path) -> Path:
    """Replay the stage's COPYs from the context (the repository) into ``root``.

    Returns the stage's last WORKDIR inside ``root``. Fails when a source matches
    nothing in the context (absent, or left out by .dockerignore).
    """
    workdir = PurePosixPath("/")
    for instruction in (i for i in INSTRUCTIONS if i.stage == stage):
        if instruction.keyword == "WORKDIR":
            workdir = workdir / instruction.args
            (root / workdir.relative_to("/")).mkdir(parents=True, exist_ok=True)
        if instruction.keyword != "COPY" or "from" in copy_parts(instruction.args)[0]:
            continue
        _, sources, dest = copy_parts(instruction.args)
        target = root / (workdir / dest).relative_to("/")
        into_dir = dest.endswith("/") or len(sources) > 1
        for source in sources:
            matches = [Path(m) for m in sorted(glob.glob(str(REPO / source)))
                       if not ignored(str(Path(m).relative_to(REPO)), PATTERNS)]
            assert matches, f"COPY {source}: nothing in the build context"
            for match in matches:
                if match.is_dir() and not match.is_symlink():
                    shutil.copytree(match, target, symlinks=True, dirs_exist_ok=True,
                                    ignore=_context_filter())
                else:
                    to = target / match.name if into_dir or target.is_dir() else target
                    to.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(match, to, follow_symlinks=False)
    return root / workdir.relative_to("/")


def _context_filter() -> Callable[[str, list[str]], list[str]]:
    """copytree's ``ignore``: what .dockerignore leaves out of the build context."""

    def skip(directory: str, names: list[str]) -> list[str]:
        base = Path(directory).relative_to(REPO)
        return [n for n in names if ignored(str(base / n), PATTERNS)]
    return skip


def test_the_wheel_stage_builds_a_wheel_with_the_module(tmp_path: Path, dists: Dists) -> None:
    names = stage_names()
    builder = names[next(copy_parts(i.args)[0]["from"] for i in FINAL_STAGE
                         if i.keyword == "COPY" and "from" in copy_parts(i.args)[0])]
    src = replay_copies(builder, tmp_path / "image")
    # What the issue hit: the module must be reachable in the build stage, not dangling.
    module = src / "zenjobs" / "infra" / "module"
    module_files = {n.rsplit("/", 1)[-1] for n in package_data()
                    if n.startswith("zenjobs/infra/module/")}
    assert module.is_dir() and {p.name for p in module.iterdir()} == module_files
    command = next(i.args for i in INSTRUCTIONS
                   if i.stage == builder and i.keyword == "RUN" and "pip wheel" in i.args)
    argv = shlex.split(command)
    assert argv[:2] == ["pip", "wheel"]
    out = next(argv[n + 1] for n, word in enumerate(argv) if word == "--wheel-dir")
    dist = tmp_path / "image" / out.lstrip("/")
    argv = [sys.executable, "-m", "pip", *[str(dist) if a == out else a for a in argv[1:]]]
    run(argv, cwd=src, label="Dockerfile wheel stage (simulated)")
    wheels = list(dist.glob("zenjobs-*.whl"))
    assert len(wheels) == 1, wheels
    with zipfile.ZipFile(wheels[0]) as built, zipfile.ZipFile(dists.wheel) as released:
        for name, data in package_data().items():
            assert built.read(name) == data, name
        assert sorted(built.namelist()) == sorted(released.namelist())


def test_the_runtime_stage_app_imports_with_the_installed_wheel(tmp_path: Path,
                                                                wheel_venv: Path) -> None:
    srv = replay_copies(FINAL, tmp_path / "image")
    assert (srv / "examples" / "newsletter" / "app.py").is_file()
    assert not (srv / "examples" / "newsletter" / "infra").exists()
    env = dict(PRODUCTION_SETTINGS)
    for instruction in (i for i in FINAL_STAGE if i.keyword == "ENV"):
        env.update(word.split("=", 1) for word in shlex.split(instruction.args))
    assert env["ZENJOBS_MODE"] == "production"
    code = ("import examples.newsletter.app as service, zenjobs; "
            "print(service.executor.mode, zenjobs.__file__)")
    mode, where = run([wheel_venv / "bin" / "python", "-c", code], cwd=srv, venv=wheel_venv,
                      extra_env=env).stdout.split()
    assert mode == "production"
    assert Path(where).resolve().is_relative_to(wheel_venv.resolve())
