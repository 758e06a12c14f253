"""The README and docs/ link only to files inside the repository, and those exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.openapi import DOCS

ROOT = DOCS.parent
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_to_a_file_in_the_repository(page: Path):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT.resolve()), f"{page.name} links outside: {target}"
        assert path.exists(), f"{page.name} links to a missing file: {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_anchors_into_docs_pages_exist(page: Path):
    for target in LINK.findall(page.read_text()):
        file, _, anchor = target.partition("#")
        if not anchor or re.match(r"[a-z]+:", target) or not file.endswith(".md"):
            continue
        text = (page.parent / file).read_text()
        slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
        assert anchor in slugs, f"{page.name}: no heading for #{anchor} in {file}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_readme_names_no_file_outside_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "SPEC.md" not in readme and "shared/" not in readme
    for page in sorted(DOCS.glob("*.md")):
        assert f"docs/{page.name}" in readme, f"README does not link {page.name}"
