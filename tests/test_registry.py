"""Registry lint: the codes, kinds and exit statuses in the code are exactly those of docs/contract.md.

docs/contract.md is the one source of the public contract. A member added to `findings.Code` without a
contract row, a fix kind that handles a code nobody defined, or a kind the template does not grant
fails here, before a user meets it. Codes are members of `Code` everywhere: no code is spelt as a string outside
rotation_doctor/model/ (and the tests), so a code cannot be misspelt or recognised by its spelling.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import remediations
from remediations import REGISTRY, Remediation
from rotation_doctor.cli import fix_kind_tables
from rotation_doctor.model.findings import CODE_INFO, Code
from rotation_doctor.model.plan import FixKind
from rotation_doctor.planning import planner
from tests.docs_pages import page, section, table
from tests.fix_scenarios import BY_KIND

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = page("contract.md")
# The codes this project added, and the sentence naming the not-evaluated ones (once README's "Finding codes").
DIAGNOSIS = page("diagnosis.md")
FIXING = page("fixing.md")
CODE_VALUES = {str(code) for code in Code}


def _section(title: str) -> str:
    return section(CONTRACT, f"## {title}")


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
    assert set(CONTRACT_CODES) == CODE_VALUES


def test_each_code_is_spelt_as_its_name_and_has_its_metadata() -> None:
    # The value is what the JSON, Security Hub ids and the schema print: the member's name, as before the enum.
    assert [code.value for code in Code] == [code.name for code in Code]
    assert set(CODE_INFO) == set(Code)


@pytest.mark.parametrize("code", list(Code))
def test_each_code_has_the_contracts_path_and_severity_and_a_remedy(code: Code) -> None:
    _, path, severity, _meaning = CONTRACT_CODES[code]
    assert (code.path.value, code.severity.value) == (path, severity)
    assert code.remedy.strip().endswith(".") and len(code.remedy) > 20


def test_the_docs_table_of_added_codes_names_codes_on_their_path() -> None:
    rows = _table_rows(section(DIAGNOSIS, "## Finding codes"))
    assert len(rows) >= 5
    assert {code: path for code, path, *_ in rows} == {code: str(Code(code).path) for code, *_ in rows}


def test_the_not_evaluated_codes_are_those_the_docs_name() -> None:
    # docs/diagnosis.md: "`AWS_READ_FAILED`, ... and `DB_TARGET_UNRESOLVED` make the verdict `unknown` (never
    # `degraded`)".
    prose = " ".join(section(DIAGNOSIS, "## Finding codes").split())
    sentence = re.search(r"((?:`[A-Z_]+`(?:,| and)? )+)make the verdict `unknown` \(never `degraded`\)", prose)
    assert sentence is not None
    assert set(re.findall(r"`([A-Z_]+)`", sentence.group(1))) == {str(c) for c in Code if c.is_not_evaluated}


def test_fix_kinds_are_the_contracts_with_its_risk() -> None:
    assert {k.value for k in FixKind} == set(CONTRACT_KINDS) == {k.value for k in REGISTRY}
    for kind, remediation in REGISTRY.items():
        assert remediation.risk.value == CONTRACT_KINDS[kind.value][2], kind


def test_the_docs_fix_kind_table_is_the_registrys() -> None:
    """docs/fixing.md (once README's "Fixing") lists every fix kind once, with its risk."""
    rows = table(section(FIXING, "# Fixing"), "| kind | change | risk |")
    documented = {kind: risk for kind, _change, risk in rows}
    assert len(documented) == len(rows)
    assert documented == {kind.value: remediation.risk.value for kind, remediation in REGISTRY.items()}


@pytest.mark.parametrize("page_name", fix_kind_tables.PAGES)
def test_the_fix_kind_tables_are_generated_from_the_kinds_modules(page_name: str) -> None:
    """docs/contract.md section 3 and docs/fixing.md's table are each kind's `change` and `risk`, as its module declares
    them (`make fix-kind-tables` rewrites what lies between the markers; the markers must be there)."""
    assert page(page_name) == fix_kind_tables.render(page(page_name))


def _fix_kinds_declared_in_the_package() -> list[type[Remediation]]:
    """Every fix kind a module of remediations/ defines (its own classes, not those it imports)."""
    found = []
    for module_info in pkgutil.iter_modules(remediations.__path__):
        module = importlib.import_module(f"remediations.{module_info.name}")
        found += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Remediation) and cls is not Remediation and cls.__module__ == module.__name__
        ]
    return found


def test_every_fix_kind_in_the_package_is_registered_once() -> None:
    """A kind's module left out of REGISTRY would never be planned, and two classes declaring one kind would leave one
    silently unused (REGISTRY is keyed by kind): each class in remediations/ is registered, under a kind of its own."""
    declared = _fix_kinds_declared_in_the_package()
    assert len(declared) >= 10
    assert sorted(cls.__name__ for cls in declared) == sorted(type(r).__name__ for r in REGISTRY.values())
    assert all(type(REGISTRY[cls.kind]) is cls for cls in declared)


def test_every_fix_kind_has_its_broken_account() -> None:
    """The moto suites (tests/test_remediation_moto.py, tests/test_fault_injection.py) run every kind from its broken
    account in tests/fix_scenarios.py: a kind without one would go untested there, silently."""
    assert set(BY_KIND) == set(FixKind)


@pytest.mark.parametrize("kind", sorted(REGISTRY, key=str))
def test_each_fix_kind_handles_only_known_codes_and_declares_its_iam(kind: FixKind) -> None:
    remediation = REGISTRY[kind]
    assert remediation.handles and all(isinstance(code, Code) for code in remediation.handles)
    assert remediation.iam_actions
    assert all(re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", a) for a in remediation.iam_actions)
    # Its row of the generated tables: one line, and no `|` that would end a cell early.
    assert remediation.change.strip() and "\n" not in remediation.change and "|" not in remediation.change


def test_the_planners_reasons_name_known_codes() -> None:
    assert planner._WHY_NOT and all(isinstance(code, Code) for code in planner._WHY_NOT)


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


def _spellings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of each string that spells a code where a `Code` member belongs: a code itself, any string in
    a code's place (a misspelt code), or a code's prefix or suffix (recognising codes by their spelling, as
    `endswith("_NOT_EVALUATED")` did). Only a whole string counts: prose that mentions a code (a docstring, a
    message) is fine."""
    in_code_places = _codes_named_in(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            fragment = any(
                text != code
                and ((code.startswith(text) and text.endswith("_")) or (code.endswith(text) and text.startswith("_")))
                for code in CODE_VALUES
            )
            if text in CODE_VALUES or text in in_code_places or fragment:
                found.append((node.lineno, text))
    return found


def _source_files() -> list[Path]:
    """Every module that must name codes as `Code` members: all but model/, where `Code` is defined."""
    files = [
        path for package in ("rotation_doctor", "remediations", "handlers") for path in (ROOT / package).rglob("*.py")
    ]
    return [path for path in files if (ROOT / "rotation_doctor" / "model") not in path.parents]


def test_no_finding_code_is_spelt_outside_the_model() -> None:
    files = _source_files()
    assert len(files) >= 100 and not any(path.name == "findings.py" for path in files)
    spelt = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in files
        for line, text in _spellings(ast.parse(path.read_text()))
    ]
    assert spelt == [], "use the Code member instead:\n" + "\n".join(spelt)


def test_the_spelling_check_sees_every_code_where_it_is_defined() -> None:
    # Guards the walker on real source: findings.py spells each code once, as its member's value.
    findings = ast.parse((ROOT / "rotation_doctor" / "model" / "findings.py").read_text())
    assert sorted(text for _, text in _spellings(findings)) == sorted(CODE_VALUES)


def test_the_spelling_check_sees_codes_misspellings_and_fragments() -> None:
    probe = ast.parse(
        '''"""A docstring naming SM_NO_PATH in prose is fine."""
if f.code == "SM_NO_PATHS":
    pass
handles = frozenset({"DB_TYPO"})
READ_FAILED = "AWS_READ_FAILED"
unjudged = code.endswith("_NOT_EVALUATED") or code.startswith("DB_")
message = f"{code} is not SM_NO_PATH"
'''
    )
    assert sorted(_spellings(probe)) == [
        (2, "SM_NO_PATHS"),
        (4, "DB_TYPO"),
        (5, "AWS_READ_FAILED"),
        (6, "DB_"),
        (6, "_NOT_EVALUATED"),
    ]


def test_the_clis_exit_statuses_are_the_contracts() -> None:
    from rotation_doctor.cli import main

    constants = {value for name, value in vars(main).items() if name.startswith("EXIT_") and isinstance(value, int)}
    assert constants | {130} == CONTRACT_EXITS
