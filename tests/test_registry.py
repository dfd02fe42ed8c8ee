"""Registry lint: the codes, kinds and exit statuses in the code are exactly those of docs/contract.md.

docs/contract.md is the one source of the public contract. A code added to `findings.CODES` without a
contract row, a fix kind that handles a code nobody defined, or a kind the template does not grant
fails here, before a user meets it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from remediations import REGISTRY
from rotation_doctor.model.findings import CODES
from rotation_doctor.model.plan import FixKind
from rotation_doctor.planning import planner

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = (ROOT / "docs" / "contract.md").read_text()


def _section(title: str) -> str:
    start = CONTRACT.index(f"## {title}")
    end = CONTRACT.find("\n## ", start + 1)
    return CONTRACT[start : end if end > 0 else None]


def _table_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| `") or re.match(r"^\| \d+ \|", line):
            rows.append([cell.strip().strip("`") for cell in line.strip("|").split(" | ")])
    return rows


CONTRACT_CODES = {row[0]: row for row in _table_rows(_section("2. Finding codes"))}
CONTRACT_KINDS = {row[0]: row for row in _table_rows(_section("3. Fix kinds"))}
CONTRACT_EXITS = {int(row[0]) for row in _table_rows(_section("5. CLI")) if row[0].isdigit()}


def test_the_contract_tables_were_read() -> None:
    # Guards the parser: an empty table would make every comparison below pass.
    assert len(CONTRACT_CODES) >= 20 and len(CONTRACT_KINDS) >= 10 and {0, 1, 2, 3} <= CONTRACT_EXITS


def test_finding_codes_are_the_contracts() -> None:
    assert set(CODES) == set(CONTRACT_CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_has_the_contracts_path_and_severity_and_a_remedy(code: str) -> None:
    _, path, severity, _meaning = CONTRACT_CODES[code]
    info = CODES[code]
    assert (info.path.value, info.severity.value) == (path, severity)
    assert info.remedy.strip().endswith(".") and len(info.remedy) > 20


def test_fix_kinds_are_the_contracts_with_its_risk() -> None:
    assert {k.value for k in FixKind} == set(CONTRACT_KINDS) == {k.value for k in REGISTRY}
    for kind, remediation in REGISTRY.items():
        assert remediation.risk.value == CONTRACT_KINDS[kind.value][2], kind


@pytest.mark.parametrize("kind", sorted(REGISTRY, key=str))
def test_each_fix_kind_handles_only_known_codes_and_declares_its_iam(kind: FixKind) -> None:
    remediation = REGISTRY[kind]
    assert remediation.handles and remediation.handles <= set(CODES)
    assert remediation.iam_actions
    assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in remediation.iam_actions)


def test_the_planners_reasons_name_known_codes() -> None:
    assert set(planner._WHY_NOT) <= set(CODES)


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def _codes_named_in(tree: ast.AST) -> set[str]:
    """Strings in the places a finding code goes: a Finding or Problem, `code=`, `x.code == ...`, `handles`."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ("Finding", "Problem") and node.args:
                found |= _strings(node.args[0])
            found |= {s for k in node.keywords if k.arg == "code" for s in _strings(k.value)}
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(s, ast.Attribute) and s.attr == "code" for s in sides):
                found |= {s for side in sides for s in _strings(side)}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "handles" for t in targets) and node.value:
                found |= _strings(node.value)
    return found


def test_every_code_the_source_names_is_known() -> None:
    found: set[str] = set()
    for package in ("rotation_doctor", "remediations", "handlers"):
        for path in (ROOT / package).rglob("*.py"):
            found |= _codes_named_in(ast.parse(path.read_text()))
    assert len(found) >= 20  # the walker sees the analyzer's codes at all
    unknown = sorted(found - set(CODES))
    assert unknown == [], f"codes named in the source but not in the contract: {unknown}"


def test_the_source_check_sees_a_misspelt_code() -> None:
    probe = ast.parse('if f.code == "SM_NO_PATHS":\n    pass\nhandles = frozenset({"DB_TYPO"})\n')
    assert _codes_named_in(probe) - set(CODES) == {"SM_NO_PATHS", "DB_TYPO"}


def test_the_clis_exit_statuses_are_the_contracts() -> None:
    from rotation_doctor.cli import main

    constants = {value for name, value in vars(main).items() if name.startswith("EXIT_") and isinstance(value, int)}
    assert constants | {130} == CONTRACT_EXITS
