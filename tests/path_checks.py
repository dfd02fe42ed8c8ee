"""What every test of the paths a diagnosis shows checks (`tests/test_paths.py`, `tests/test_paths_central.py`):
the hops that block, and the subset of Mermaid's flowchart grammar `--format mermaid` writes."""

from __future__ import annotations

import re
from typing import Any


def blocking_ids(payload: dict[str, Any]) -> set[str]:
    return {
        i for p in payload["paths"] for c in p["cases"] for h in c["hops"] if h["verdict"] == "blocks" for i in h["ids"]
    }


def assert_blocked_where_the_findings_say(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Every error finding of a path names a hop that blocks, and every hop that blocks is named by a finding;
    returns those error findings."""
    errors = [f for f in payload["findings"] if f["severity"] == "error" and f["path"] in ("sm", "db")]
    blocking = blocking_ids(payload)
    for finding in errors:
        assert set(finding["resources"]) & blocking, f"{finding['code']} names no blocking hop"
    named = {r for f in payload["findings"] if f["severity"] != "info" for r in f["resources"]}
    assert blocking <= named, "a hop blocks that no finding names"
    return errors


MERMAID_LINE = re.compile(
    r'  subgraph (sm|db|proxy)\["[^"]*"\]'
    r"|    direction LR"
    r'|    (sm|db|proxy)_\d+\["[^"]*"\]'
    r"|    (sm|db|proxy)_\d+( --> (sm|db|proxy)_\d+)+"
    r"|  end"
    r"|  class (sm|db|proxy)_\d+ (blocks|doubt|not_evaluated)"
    r"|  classDef (blocks|doubt|not_evaluated) [a-z:#0-9,. -]+"
    r'|  none\["[^"]*"\]'
)


def assert_mermaid_grammar(chart: str) -> None:
    """The subset of Mermaid's flowchart grammar the chart uses: a header, quoted labels without a raw quote or
    angle bracket other than `<br/>`, balanced subgraphs, edges between declared nodes, classes that exist."""
    lines = chart.splitlines()
    assert lines[0] == "flowchart LR"
    declared: set[str] = set()
    depth = 0
    for line in lines[1:]:
        assert MERMAID_LINE.fullmatch(line), line
        if line.startswith("  subgraph"):
            depth += 1
        elif line == "  end":
            depth -= 1
        label = re.fullmatch(r'    (\w+)\["(.*)"\]', line)
        if label:
            declared.add(label.group(1))
            assert not re.search(r"[<>]", label.group(2).replace("<br/>", "")), line
        for node in re.findall(r"\b(?:sm|db|proxy)_\d+\b", line):
            assert node in declared, f"{node} used before it is declared"
        assert 0 <= depth <= 1
    assert depth == 0


def assert_text_marks_the_blocking_hops(text: str, payload: dict[str, Any]) -> None:
    """Under each error finding of a path, `--format text` shows the hop chain of its case, marking a resource the
    finding names with what it was asked and answered."""
    for finding in payload["findings"]:
        if finding["severity"] == "error" and finding["path"] in ("sm", "db"):
            after = text[text.index(finding["summary"]) :]
            chain = after.splitlines()[2]
            assert chain.startswith("    path (") and "✗ " in chain, chain
            marked = re.search(r"✗ (\S+) \(([^)]*: [^)]*)\)", chain)
            assert marked and marked.group(1) in finding["resources"], chain
