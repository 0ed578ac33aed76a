"""The manual holds together: the README stays a quick start, and every relative link in it and in docs/ leads
somewhere (a file or folder of the repository, and a heading of that page when the link names one)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200

_FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def links(text: str) -> list[str]:
    """The targets of a Markdown text's inline links, outside code (a `[x](y)` in code is not a link)."""
    return _LINK.findall(_CODE.sub("", _FENCE.sub("", text)))


def anchors(text: str) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", _FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The relative links of `page` whose file (inside `root`), or whose heading, is not there."""
    broken = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: leave the repository
            continue
        path_text, _, anchor = target.partition("#")
        path = (page.parent / path_text).resolve() if path_text else page
        if not _leads_somewhere(path, anchor, root):
            broken.append(target)
    return broken


def _leads_somewhere(path: Path, anchor: str, root: Path) -> bool:
    if not path.exists() or root.resolve() not in [path, *path.parents]:
        return False
    return not anchor or (path.suffix == ".md" and anchor in anchors(path.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    assert not broken_links(page)


def test_the_readme_is_a_quick_start_that_leads_to_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < README_MAX_LINES
    index = (ROOT / "docs" / "index.md").read_text()
    linked = {(ROOT / target).resolve() for target in links(readme)}
    linked |= {(ROOT / "docs" / target).resolve() for target in links(index)}
    unreachable = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert not unreachable, "link these from README.md or docs/index.md"


def test_the_link_check_sees_a_missing_file_a_missing_heading_and_leaves_code_and_urls_alone(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A set with several models\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-set-with-several-models) [ok](https://example.org/x) [ok](#here)\n"
        "# Here\n`[code](nowhere.md)`\n```\n[fenced](nowhere.md)\n```\n"
        "[bad](gone.md) [bad](other.md#no-such-heading) [bad](#nowhere) [bad](../outside.md)\n"
    )
    (tmp_path.parent / "outside.md").write_text("# Outside the repository\n")
    assert broken_links(page, root=tmp_path) == ["gone.md", "other.md#no-such-heading", "#nowhere", "../outside.md"]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    command = ci[ci.index("# The README's test command, verbatim.") + 1]
    assert f"```sh\n{command}\n```" in (ROOT / "README.md").read_text()
