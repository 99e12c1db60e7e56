"""One-line errors for environment mistakes (issue 14, point 7): a registry that fails to
import names file:line and the original error; a missing template or module says what is
missing and why."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from .support import EXAMPLE, zj

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO))


def one_line(*args: str) -> str:
    result = zj(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / f"{name}.py").write_text(text)
    sys.modules.pop(name, None)


def test_an_exception_at_import_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "raises_at_import", "from zenjobs import ZenJobs\n\njobs = ZenJobs()\n"
          "SETTINGS = {}\nTOKEN = SETTINGS['token']\n")

    line = one_line("validate", "--registry", "raises_at_import:jobs")

    assert line == ("error: raises_at_import.py:5: cannot import registry module "
                    "'raises_at_import' (from --registry): KeyError: 'token' "
                    "(--debug or ZENJOBS_DEBUG=1 shows the traceback)")


def test_a_syntax_error_names_its_line(tmp_path: Path) -> None:
    write(tmp_path, "bad_syntax", "from zenjobs import ZenJobs\njobs = ZenJobs(\nx = 1 +\n")

    line = one_line("list", "--registry", "bad_syntax:jobs")

    assert line.startswith("error: bad_syntax.py:")
    assert "cannot import registry module 'bad_syntax' (from --registry): SyntaxError: " in line


def test_a_missing_dependency_says_it_is_not_installed(tmp_path: Path) -> None:
    write(tmp_path, "needs_dep", "import json\nimport zenjobs_missing_dep_xyz\n")

    line = one_line("list", "--registry", "needs_dep:jobs")

    assert line.startswith("error: needs_dep.py:2: cannot import registry module 'needs_dep'")
    assert "No module named 'zenjobs_missing_dep_xyz': a module the registry imports is not " \
           f"installed for {sys.executable}" in line


def test_the_error_in_a_module_the_registry_imports_names_that_module(tmp_path: Path) -> None:
    write(tmp_path, "helper_mod", "def setting():\n    raise RuntimeError('no SECRET set')\n")
    write(tmp_path, "uses_helper", "import helper_mod\nVALUE = helper_mod.setting()\n")

    line = one_line("list", "--registry", "uses_helper:jobs")

    # The deepest frame in the user's code: the helper that raised.
    assert line.startswith("error: helper_mod.py:2: cannot import registry module 'uses_helper'")
    assert "RuntimeError: no SECRET set" in line


@pytest.mark.parametrize(("source", "env", "said"), [
    ("option", {}, "(from --registry)"),
    ("environment", {"ZENJOBS_REGISTRY": "app_that_is_not_here.jobs:jobs"},
     "(from $ZENJOBS_REGISTRY)"),
    ("pyproject", {}, "(from [tool.zenjobs] registry in pyproject.toml)"),
])
def test_a_registry_module_that_does_not_exist_says_where_it_looked(
        tmp_path: Path, source: str, env: dict[str, str | None], said: str) -> None:
    args = ["list"]
    if source == "option":
        args += ["--registry", "app_that_is_not_here.jobs:jobs"]
    if source == "pyproject":
        (tmp_path / "pyproject.toml").write_text(
            '[tool.zenjobs]\nregistry = "app_that_is_not_here.jobs:jobs"\n')

    result = zj(*args, env=env)

    assert result.exit_code == 2
    assert result.stderr == (
        f"error: cannot import registry module 'app_that_is_not_here.jobs' {said}: no module "
        f"named 'app_that_is_not_here' in the working directory {Path.cwd()} or the installed "
        f"packages of {sys.executable}; check the spelling, and run zenjobs from the project "
        "root\n")


def test_a_missing_attribute_lists_the_registries_the_module_defines() -> None:
    line = one_line("list", "--registry", "examples.newsletter.jobs:job")

    assert line == ("error: module 'examples.newsletter.jobs' has no attribute 'job' "
                    "(registries it defines: jobs)")


# -- gen-infra: the package's own files -------------------------------------------------------

GEN_INFRA = ("gen-infra", "--registry", EXAMPLE, "--project", "demo-project", "--region",
             "europe-west1", "--service", "newsletter", "--service-url",
             "https://newsletter-abc-ew.a.run.app")


def test_a_missing_template_says_which_and_why(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    import zenjobs.infra.render as render

    empty = tmp_path / "templates"
    empty.mkdir()
    real = render._environment

    def without_templates() -> jinja2.Environment:
        env = real()
        env.loader = jinja2.FileSystemLoader(str(empty))
        return env

    monkeypatch.setattr(render, "_environment", without_templates)

    result = zj(*GEN_INFRA, "--out", str(tmp_path / "infra"))

    assert result.exit_code == 4
    assert re.match(r"error: template '(\w+\.tf\.j2)' is missing from the installed zenjobs "
                    r"package \(zenjobs/infra/templates/\1\): reinstall zenjobs", result.stderr)
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "infra").exists()


def test_a_missing_templates_directory_says_what_and_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import jinja2

    import zenjobs.infra.render as render

    def without_directory() -> jinja2.Environment:
        # What PackageLoader does for a package installed without its templates.
        return jinja2.Environment(loader=jinja2.PackageLoader("zenjobs.infra", "no_templates"))

    monkeypatch.setattr(render, "_environment", without_directory)

    line = zj(*GEN_INFRA, "--out", str(tmp_path / "infra")).stderr

    assert line.startswith("error: the templates directory zenjobs/infra/templates is missing "
                           "from the installed zenjobs package (PackageLoader")
    assert len(line.splitlines()) == 1


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_a_missing_terraform_module_says_what_and_why(tmp_path: Path, state: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import zenjobs.infra.files as files

    package = tmp_path / "package"
    package.mkdir()
    if state == "empty":
        (package / "module").mkdir()
    monkeypatch.setattr(files.resources, "files", lambda name: package)

    result = zj(*GEN_INFRA, "--out", str(tmp_path / "infra"), "--json")

    assert result.exit_code == 4
    error = json.loads(result.stdout)["error"]
    assert error["field"] == "module"
    assert error["message"].startswith(
        "the Terraform module zenjobs/infra/module "
        + ("is missing from the installed zenjobs package" if state == "missing"
           else "of the installed zenjobs package has no *.tf file"))
    assert "symlink to terraform/modules/zenjobs" in error["message"]
