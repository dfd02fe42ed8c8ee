"""README is the front page; the rest lives in the documentation site (docs/, MkDocs). Nothing that left README is
lost, the CLI reference is the parser's, and README's links lead somewhere. (`make docs` builds the site with
--strict: a broken link between pages fails there.)"""

from __future__ import annotations

import re

import pytest

from rotation_doctor.cli import reference
from rotation_doctor.model.findings import Code
from tests.docs_pages import DOCS, ROOT, headings, section, table

README = (ROOT / "README.md").read_text()
PAGES = {path.name: path.read_text() for path in sorted(DOCS.glob("*.md"))}

# Every heading of README.md as of commit a9253bd (1,512 lines, before it became a front page), outside code.
README_HEADINGS_AT_A9253BD = (
    "rotation-doctor",
    "Use",
    "Across accounts and regions",
    "A second opinion: `diagnose --deep`",
    "How the database is found",
    "Semantics, precisely",
    "Before you apply: what-if",
    "Fixing",
    "Whose database? A secret never decides alone what gets opened",
    "Approval modes and guardrails",
    "Running it as a service (SAM)",
    "Deploy",
    "Closing the loop",
    "Isolation and fairness: one secret, one place, never the others",
    "Security Hub",
    "Across an organization",
    "How the hub's worker handles member events",
    "Telling people, and approving from a phone",
    "Finding codes",
    "Permissions",
    "Performance (measured)",
    "Across an organization (measured)",
    "What is not modelled (reported, not guessed)",
    "Development",
)


def test_readme_is_a_front_page() -> None:
    assert len(README.splitlines()) <= 300


@pytest.mark.parametrize("heading", README_HEADINGS_AT_A9253BD)
def test_every_section_that_left_readme_is_in_readme_or_a_docs_page(heading: str) -> None:
    where = [name for name, text in {"README.md": README, **PAGES}.items() if heading in headings(text)]
    assert where, f"{heading!r} is neither a heading of README.md nor of a page in docs/"


def test_the_headings_list_is_readmes_at_a9253bd() -> None:
    # Guards the list and the reader: the front page's own headings are read the same way, code comments left out.
    assert headings("# a\n```sh\n# a comment\n```\n## b\n") == ["a", "b"]
    assert len(README_HEADINGS_AT_A9253BD) == len(set(README_HEADINGS_AT_A9253BD)) == 24


def test_the_cli_reference_is_the_parsers() -> None:
    """docs/cli.md is generated (`make cli-reference`): a changed option, choice or help text regenerates it."""
    assert PAGES["cli.md"] == reference.render()


def test_the_cli_reference_names_every_command() -> None:
    commands = re.findall(r"^## `(rotation-doctor[^`]*)`$", PAGES["cli.md"], re.M)
    assert {"rotation-doctor diagnose", "rotation-doctor scan", "rotation-doctor what-if"} <= set(commands)
    assert {"rotation-doctor proposals approve", "rotation-doctor completion"} <= set(commands)
    # A `|` in a cell outside code would split it: every row of every table has the header's three cells.
    for name in commands:
        rows = table(section(PAGES["cli.md"], f"## `{name}`"), "| argument | value | what it does |")
        assert rows and all(len(row) == 3 for row in rows), name


def _relative_links(text: str) -> list[str]:
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    return [target for target in targets if not re.match(r"[a-z]+:", target)]


def test_readmes_links_lead_to_files_of_the_checkout() -> None:
    """README's links work on GitHub and in a clone: relative paths to files that exist (the site's pages)."""
    links = _relative_links(README)
    assert len([link for link in links if link.startswith("docs/") and link.endswith(".md")]) >= 10
    for link in links:
        path = link.partition("#")[0]
        assert path and (ROOT / path).is_file(), link


def test_the_diagrams_name_only_finding_codes_that_exist() -> None:
    diagrams = re.findall(r"```mermaid\n(.*?)```", PAGES["diagnosis.md"], re.S)
    assert len(diagrams) == 2  # the Secrets Manager path and the database path
    named = {word for diagram in diagrams for word in re.findall(r"\b(?:SM|DB)_[A-Z0-9_]+\b", diagram)}
    assert len(named) >= 15 and named <= {str(code) for code in Code}


def test_the_json_schema_page_links_every_schema() -> None:
    linked = set(re.findall(r"\]\((schema/v1/[^)]+)\)", PAGES["json-schema.md"]))
    assert linked == {f"schema/v1/{path.name}" for path in (DOCS / "schema" / "v1").glob("*.json")}


# Pages other branches add in this session: the lead places them in mkdocs.yml's navigation when merging.
NOT_YET_IN_NAV: frozenset[str] = frozenset()


def test_every_page_is_in_the_sites_navigation() -> None:
    """A page outside the navigation is built but found by no reader; the navigation names only pages that exist."""
    config = (ROOT / "mkdocs.yml").read_text()
    nav = config[config.index("\nnav:\n") :]
    listed = set(re.findall(r"^  - .+: (\S+\.md)$", nav, re.M))
    assert len(listed) >= 15
    assert set(PAGES) - NOT_YET_IN_NAV <= listed <= set(PAGES)


def test_the_sites_hook_unescapes_pipes_only_in_code_spans_of_table_rows() -> None:
    """GitHub needs `all\\|ID,ID` in a table; the site shows `all|ID,ID` (scripts/mkdocs_hooks.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    page_text = "| `--accounts all\\|ID,ID` | a \\| b |\n`x\\|y` in prose\n"
    assert hooks.on_page_markdown(page_text) == "| `--accounts all|ID,ID` | a \\| b |\n`x\\|y` in prose\n"
