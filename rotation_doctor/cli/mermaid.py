"""`diagnose --format mermaid`: each path's worst case as a Mermaid flowchart, one box a component, the blocking one
drawn red. Renders on GitHub and in the docs site (mermaid 11).

Every label is quoted, and what it quotes is made inert: Mermaid's entity codes for the characters its grammar or
its HTML labels give meaning to (a name or an answer is text, never markup). Node ids are ours (`sm_1`, ...), so
none is a reserved word (`end`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rotation_doctor.model.paths import HopVerdict, Path, PathCase, Stop

_CLASSES = {
    HopVerdict.BLOCKS: "fill:#fde2e1,stroke:#b42318,stroke-width:3px,color:#7a271a",
    HopVerdict.DOUBT: "fill:#fef0c7,stroke:#b54708,color:#7a2e0e",
    HopVerdict.NOT_EVALUATED: "fill:#f2f4f7,stroke:#667085,stroke-dasharray:4 3,color:#344054",
}
_ENTITIES = {'"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;", "#": "#35;", "`": "#96;", "\n": " "}


def flowchart(secret_name: str, paths: Sequence[Path]) -> str:
    lines = ["flowchart LR"]
    if not paths:
        lines.append(f'  none["{_inert(secret_name)}: no network path was judged"]')
    for path in paths:
        if path.cases:
            lines += _subgraph(path, path.cases[0])
    for verdict, style in _CLASSES.items():
        lines.append(f"  classDef {verdict} {style}")
    return "\n".join(lines)


def _subgraph(path: Path, case: PathCase) -> list[str]:
    leg = str(path.leg)
    more = f", 1 of {path.cases_judged} cases" if path.cases_judged > 1 else ""
    title = f"{path.leg.heading} ({case.name}{more})"
    lines = [f'  subgraph {leg}["{_inert(title)}"]', "    direction LR"]
    stops = case.stops()
    ids = [f"{leg}_{i}" for i in range(len(stops))]
    for node, stop in zip(ids, stops, strict=True):
        lines.append(f'    {node}["{_label(stop)}"]')
    if len(ids) > 1:
        lines.append("    " + " --> ".join(ids))
    lines.append("  end")
    for node, stop in zip(ids, stops, strict=True):
        if stop.verdict is not HopVerdict.PASSES:
            lines.append(f"  class {node} {stop.verdict}")
    return lines


def _label(stop: Stop) -> str:
    hop = stop.deciding
    parts = [f"{stop.verdict.mark} {stop.kind.label}", stop.component]
    if stop.verdict is not HopVerdict.PASSES or len(stop.hops) == 1:
        parts.append(f"{hop.question}: {hop.answer}")
    return "<br/>".join(_inert(p) for p in parts)


def _inert(text: str) -> str:
    return "".join(_ENTITIES.get(c, c) for c in text)
