"""The documentation stands alone: every link resolves inside the repository, and no page
names a file outside it.

Pages checked: ``README.md`` and every ``docs/**/*.md`` (:func:`doc_pages`).

**Links** are inline links ``[text](target)``, images ``![alt](target)`` (either may carry
a ``"title"``) and reference definitions ``[label]: target``, outside fenced code blocks and
inline code spans (there, brackets are code, not links). For each target:

* a URL with a scheme (``https:``, ``http:``, ``mailto:``, ...) is allowed and not fetched,
  except ``file:``, which names a file on someone's machine: refused;
* ``#anchor`` alone must name a heading (or an ``<a id>``/``<a name>``) of the same page;
* anything else is a path relative to the page's directory: ``?query`` and ``#anchor`` are
  stripped and ``%XX`` escapes decoded; it must not be absolute (``/...``, ``~...``, ``C:``);
  it must resolve, symlinks followed, to an existing file or directory inside the
  repository; and when it names a Markdown page and carries an anchor, that anchor must be
  one of the page's headings, slugged as GitHub does (:func:`heading_anchors`).

**Text** (the whole page, code blocks included, because a command copied from a page is
used like a link) must not contain:

* ``DESIGN.md`` in any case: the behavioural contract is ``docs/contract.md``;
* ``/work/`` or ``../shared``: paths of the machine the project was written on;
* an absolute path under a machine-local root (:data:`LOCAL_ROOTS`: ``/home``, ``/Users``,
  ``/root``, ``/tmp``, ``/mnt``, ``/media``, ``/Volumes``, ``/private``, ``/shared``,
  ``/work``, ``/workspace``, ``/workspaces``), a home-relative path (``~/``), a ``file:``
  URL or a Windows drive path (``C:\\``).

Allowed in text: URLs (``https://...``, ``gs://...``), URL paths such as
``/_zenjobs/master``, API resource names such as ``/projects/P/databases/(default)``, and
kernel interfaces such as ``/proc/self/status``: none of them names a file a reader must
have. Repository files are named by their path from the repository root or the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]

#: First segments of absolute paths that only exist on one machine (home directories,
#: workspaces, temporary and mounted storage). ``/proc``, ``/usr``, ``/etc`` are not here:
#: they are the same on every Linux machine, and docs may name them (``/proc/self/status``).
LOCAL_ROOTS = (
    "home", "Users", "root", "tmp", "mnt", "media", "Volumes", "private", "shared", "work",
    "workspace", "workspaces",
)

_FORBIDDEN_TEXT: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"design\.md", re.IGNORECASE),
     "names DESIGN.md, which is not in the repository: link docs/contract.md"),
    (re.compile(r"/work/"), "names /work/, a path outside the repository"),
    (re.compile(r"\.\./shared"), "names ../shared, a path outside the repository"),
    # Not after a word character, '.', ':' or '/': so not inside a URL or a relative path.
    (re.compile(rf"(?<![\w.:/-])/(?:{'|'.join(LOCAL_ROOTS)})(?=/|\b)"),
     "names an absolute path on one machine (outside the repository)"),
    (re.compile(r"(?<![\w.:/-])~/"), "names a path in someone's home directory"),
    (re.compile(r"\bfile:/", re.IGNORECASE), "names a file: URL"),
    (re.compile(r"(?<![\w\\])[A-Za-z]:\\[A-Za-z0-9_.]"), "names a Windows drive path"),
)

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
#: A code span: a run of backticks, then anything but that run or a blank line (spans do
#: not cross paragraphs), then the same run.
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1|\n[ \t]*\n).)+?\1", re.DOTALL)
#: ``](target)`` or ``](target "title")``: every inline link and image has exactly one
#: ``](``, so nested forms (an image inside a link) are each found. Targets may hold one
#: level of balanced parentheses, or be written ``<...>``.
_INLINE_TARGET = re.compile(
    r"\]\(\s*(?P<target><[^>\n]*>|(?:[^()\s]|\([^()\s]*\))*)"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*(?P<target><[^>\n]*>|\S+)", re.MULTILINE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(?P<text>.*?)(?:[ \t]+#+)?[ \t]*$")
_HTML_ANCHOR = re.compile(r"<a\s[^>]*\b(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    page: Path
    line: int
    message: str

    def __str__(self) -> str:
        try:
            where = self.page.relative_to(REPO).as_posix()
        except ValueError:
            where = str(self.page)
        return f"{where}:{self.line}: {self.message}"


def doc_pages(root: Path = REPO) -> list[Path]:
    """``README.md`` and every Markdown page under ``docs/``, sorted."""
    pages = [root / "README.md"] if (root / "README.md").is_file() else []
    pages += sorted(p for p in (root / "docs").rglob("*.md") if p.is_file())
    return pages


def prose(text: str) -> str:
    """``text`` with fenced code blocks and inline code spans blanked out.

    Characters are replaced by spaces (newlines kept), so offsets and line numbers of
    what remains are those of the original.
    """
    return _CODE_SPAN.sub(lambda m: _blank(m.group(0)), without_fences(text))


def without_fences(text: str) -> str:
    """``text`` with fenced code blocks blanked out (as :func:`prose` does)."""
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines(keepends=True):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(1)[0] * len(match.group(1))
            out.append(_blank(line))
        elif fence is not None:
            if match and match.group(1).startswith(fence):
                fence = None
            out.append(_blank(line))
        else:
            out.append(line)
    return "".join(out)


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text: inline markup dropped, lower case, punctuation
    removed (letters, digits, ``_``, ``-`` and spaces stay), spaces become ``-``."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # [text](url) -> text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@cache
def heading_anchors(page: Path) -> frozenset[str]:
    """Every anchor GitHub gives ``page``: heading slugs (``-1``, ``-2``... for repeats)
    and explicit ``<a id=...>`` / ``<a name=...>``."""
    text = page.read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    anchors: set[str] = set()
    for line in without_fences(text).splitlines():
        match = _HEADING.match(line)
        if not match:
            continue
        base = slug(match.group("text"))
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchors.add(base if count == 0 else f"{base}-{count}")
    anchors.update(_HTML_ANCHOR.findall(text))
    return frozenset(anchors)


def link_targets(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, target)`` of every link, image and reference definition in prose."""
    visible = prose(text)
    found = [(m.start(), m.group("target")) for m in _INLINE_TARGET.finditer(visible)]
    found += [(m.start(), m.group("target")) for m in _REFERENCE.finditer(visible)]
    for offset, target in sorted(found):
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1]
        yield visible.count("\n", 0, offset) + 1, target.strip()


def check_link(page: Path, target: str, root: Path = REPO) -> str | None:
    """Why ``target`` (a link on ``page``) is broken or not allowed; None when it is fine."""
    if not target:
        return "empty link target"
    if _SCHEME.match(target) and not re.match(r"^[A-Za-z]:[\\/]", target):
        if target.lower().startswith("file:"):
            return f"link {target!r} names a file outside the repository"
        return None  # a URL: allowed, not fetched
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.partition("?")[0])
    anchor = unquote(anchor)
    if not path_part:
        if anchor and anchor not in heading_anchors(page):
            return f"link {target!r}: no heading #{anchor} on this page"
        return None
    if path_part.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path_part):
        return (f"link {target!r} is an absolute path: link a file of the repository "
                f"relative to this page")
    resolved = (page.parent / path_part).resolve()
    if not resolved.is_relative_to(root.resolve()):
        return f"link {target!r} leaves the repository ({resolved})"
    if not resolved.exists():
        return f"link {target!r}: {resolved.relative_to(root.resolve())} does not exist"
    is_page = resolved.is_file() and resolved.suffix == ".md"
    if anchor and is_page and anchor not in heading_anchors(resolved):
        return f"link {target!r}: {resolved.name} has no heading #{anchor}"
    return None


def problems_in(page: Path, root: Path = REPO) -> list[Problem]:
    """Every broken or forbidden link, and every forbidden path in the text, of ``page``."""
    text = page.read_text(encoding="utf-8")
    found: list[Problem] = []
    for line, target in link_targets(text):
        reason = check_link(page, target, root)
        if reason is not None:
            found.append(Problem(page, line, reason))
    for number, line_text in enumerate(text.splitlines(), start=1):
        for pattern, reason in _FORBIDDEN_TEXT:
            match = pattern.search(line_text)
            if match:
                found.append(Problem(page, number, f"{reason}: {line_text.strip()!r}"))
    return found


# --- the repository's pages -----------------------------------------------------------


PAGES = doc_pages()


def test_the_pages_are_found() -> None:
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "docs/README.md", "docs/contract.md", "docs/production.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_resolves_and_nothing_outside_the_repository_is_named(page: Path) -> None:
    problems = problems_in(page)
    assert not problems, "\n".join(str(p) for p in problems)


def test_the_docs_index_links_the_contract() -> None:
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    assert "contract.md" in {target.partition("#")[0] for _, target in link_targets(index)}


# --- the checker itself -------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "docs" / "images").mkdir(parents=True)
    (tmp_path / "docs" / "images" / "shot.png").write_bytes(b"\x89PNG")
    (tmp_path / "docs" / "other.md").write_text(
        "# Other page\n\n## Cost: one job (`x`) → two\n\n## Again\n\n## Again\n"
    )
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("")
    return tmp_path


def _problems(repo: Path, body: str) -> list[str]:
    page = repo / "docs" / "page.md"
    page.write_text("# Page\n\n## A section\n\n" + body)
    heading_anchors.cache_clear()
    return [p.message for p in problems_in(page, repo)]


@pytest.mark.parametrize(
    "body",
    [
        "[other](other.md) and [an image](images/shot.png) and ![alt](images/shot.png \"t\")",
        "[code](../src/app.py), [dir](../src/), [up](../docs/other.md)",
        "[anchor](other.md#cost-one-job-x--two), [repeat](other.md#again-1), [here](#a-section)",
        "[web](https://example.com/a_(b)) <https://example.com> [mail](mailto:a@example.com)",
        "[angle](<other.md>) [escaped](other%2Emd) [query](other.md?plain=1#other-page)",
        "[ref]: other.md\n[web]: https://example.com\n",
        "```sh\ncurl [x](missing.md)\n```\n`[y](missing.md)` and ``[z](missing.md)``\n",
        "URL paths /_zenjobs/master, /projects/P/databases/(default), /proc/self/status, "
        "https://example.com/home/x and gs://b/tmp/x are fine",
    ],
)
def test_good_links_and_text_pass(repo: Path, body: str) -> None:
    assert _problems(repo, body) == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[missing](missing.md)", "missing.md does not exist"),
        ("![gone](images/gone.png)", "images/gone.png does not exist"),
        ("[missing][r]\n\n[r]: nowhere.md", "nowhere.md does not exist"),
        ("[a](other.md#no-such-heading)", "other.md has no heading #no-such-heading"),
        ("[a](#nowhere)", "no heading #nowhere on this page"),
        ("[out](../../outside.md)", "leaves the repository"),
        ("[abs](/etc/passwd)", "is an absolute path"),
        ("[home](~/notes.md)", "is an absolute path"),
        ("[f](file:///srv/x.md)", "names a file outside the repository"),
        ("[empty]()", "empty link target"),
        ("see the contract in DESIGN.md", "names DESIGN.md"),
        ("see design.md", "names DESIGN.md"),
        ("```sh\ncat /work/shared/notes\n```", "names /work/"),
        ("[x](../shared/notes.md)", "names ../shared"),
        ("copy `/home/me/app.py`", "absolute path on one machine"),
        ("in /tmp/build", "absolute path on one machine"),
        ("in ~/project", "home directory"),
        ("at C:\\Users\\me", "Windows drive path"),
    ],
)
def test_broken_links_and_outside_paths_are_refused(repo: Path, body: str, expected: str) -> None:
    found = _problems(repo, body)
    assert any(expected in message for message in found), found
