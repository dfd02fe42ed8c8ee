"""The approval page's picture of each path: its worst case as inline SVG, drawn here on the server (the page runs
no script and its content security policy stays `default-src 'none'`), one numbered box a component, top to bottom
in the order packets meet them, so that it reads on a phone's 360 px as on a desk. The blocking hop is marked by
colour and by words (`✗ blocked here`), for a colour-blind reader or a dim screen at night.

Everything drawn from a hop (ids, names, questions, answers, rules) comes from AWS or from the secret and is
hostile: every text node and attribute value is escaped, and the picture holds no `foreignObject`, no link and no
event attribute. Element ids are ours (`hop-db-7`: the path and the box's number), never taken from AWS, so a plan
step can point at the hop it opens with a same-page link.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from rotation_doctor.model.findings import Finding
from rotation_doctor.model.paths import Hop, HopKind, HopVerdict, Path, Stop
from rotation_doctor.model.plan import written_by
from rotation_doctor.model.records import ProposedFix, ProposedStep

WIDTH = 360  # viewBox units: drawn for a phone's width; the page scales it to its column
_MARGIN = 3  # room for a thick stroke at the picture's edges
_CENTRE = 20  # x of the numbered circles and the line that joins them
_RADIUS = 12
_BOX_X = 44  # left of the boxes
_PAD = 10
_LINE = 17  # one line of 13-unit text
_GAP = 16  # between two boxes
_TEXT_CHARS = 42  # what fits in a box at 13 units of DejaVu Sans (about 6.8 units a character)
_MONO_CHARS = 40  # at 12 units of DejaVu Sans Mono (7.2 units a character)
_BEYOND = "0.6"  # the opacity of what lies past the first blocking hop: packets never get there


@dataclass(frozen=True)
class _Look:
    fill: str
    stroke: str
    ink: str
    stroke_width: int
    dash: str
    words: str  # said after the mark: never colour alone


_LOOKS: Mapping[HopVerdict, _Look] = {
    HopVerdict.PASSES: _Look("#f6f8fa", "#8c959f", "#1b1f24", 1, "", "passes"),
    HopVerdict.BLOCKS: _Look("#fde2e1", "#b42318", "#7a271a", 3, "", "blocked here"),
    HopVerdict.DOUBT: _Look("#fef0c7", "#b54708", "#7a2e0e", 2, "", "may block"),
    HopVerdict.NOT_EVALUATED: _Look("#f2f4f7", "#667085", "#344054", 2, "5 3", "not evaluated"),
}
# A hop a link led to (`#hop-db-7`) is outlined, so the eye finds it after the jump.
_TARGET_STYLE = "<style>.hop:target rect{stroke:#0b57d0;stroke-width:5}</style>"


@dataclass(frozen=True)
class Drawn:
    """One box of a path's picture, what a plan step can point at."""

    path: Path
    number: int  # 1-based, as drawn in its circle
    stop: Stop

    @property
    def anchor(self) -> str:
        """The box's element id: ours (the path's name and a number), never text from AWS."""
        return f"hop-{self.path.leg}-{self.number}"

    @property
    def words(self) -> str:
        return f"hop {self.number} {self.path.leg.heading} ({self.stop.kind.label} {self.stop.component})"


def drawn(path: Path) -> tuple[Drawn, ...]:
    """The boxes of `path`'s picture: the stops of its worst case (the first one)."""
    if not path.cases:
        return ()
    return tuple(Drawn(path, n, stop) for n, stop in enumerate(path.cases[0].stops(), 1))


def section(paths: Sequence[Path]) -> str:
    """The page's "Where it stops": each path's caption and picture, side by side where the page is wide enough,
    one under the other on a phone."""
    shown = [p for p in paths if p.cases]
    if not shown:
        return ""
    figures = "".join(figure(p) for p in shown)
    return f'<h2>Where it stops</h2><div style="display:flex;flex-wrap:wrap;gap:1rem 1.5rem">{figures}</div>'


def figure(path: Path) -> str:
    """The path's caption (HTML: it wraps on any screen) and its picture."""
    boxes = drawn(path)
    case = path.cases[0]
    more = f", the worst of {path.cases_judged} cases" if path.cases_judged > 1 else ""
    blocked = [b for b in boxes if b.stop.verdict is HopVerdict.BLOCKS]
    if blocked:
        said = ", ".join(f"hop {b.number} ({b.stop.kind.label} {b.stop.component})" for b in blocked)
        headline = f"{HopVerdict.BLOCKS.mark} {path.leg.heading}: blocked at {said}"
    else:
        headline = f"{HopVerdict.PASSES.mark} {path.leg.heading}: no hop blocks"
    drawn_blocking = {_same(h) for h in case.blocking}
    elsewhere = [h for h in path.blocking if _same(h) not in drawn_blocking]
    others = (
        "<br>Other subnets are blocked at: "
        + escape("; ".join(f"{h.kind.label} {h.component} ({h.question}: {h.answer})" for h in elsewhere))
        if elsewhere
        else ""
    )
    return (
        f'<figure class="path" id="path-{path.leg}" style="flex:1 1 20rem;max-width:26rem;margin:0">'
        f"<figcaption><b>{escape(headline)}</b> ({escape(case.name.replace(' -> ', ' → ') + more)}){others}"
        "</figcaption>"
        f"{svg(path)}</figure>"
    )


def _same(hop: Hop) -> tuple[HopKind, str, str]:
    """A hop, as `Path.blocking` tells one case's from another's."""
    return (hop.kind, hop.component, hop.question)


def svg(path: Path) -> str:
    """The worst case of `path`, top to bottom, as one `<svg>` element."""
    parts: list[str] = []
    y = previous = _MARGIN  # the top of this box and of the one above
    boxes = drawn(path)
    first_block = next((b.number for b in boxes if b.stop.verdict is HopVerdict.BLOCKS), len(boxes) + 1)
    for box in boxes:
        lines = _lines(box.stop)
        height = 2 * _PAD + _LINE * len(lines)
        if box.number > 1:  # the line from the circle above
            parts.append(
                f'<line x1="{_CENTRE}" y1="{previous + 2 * _RADIUS + 2}" x2="{_CENTRE}" y2="{y}" '
                f'stroke="#8c959f" stroke-width="2"/>'
            )
        parts.append(_box(box, lines, y, height, beyond=box.number > first_block))
        previous = y
        y += height + _GAP
    total = y - _GAP + _MARGIN
    title = f"{path.leg.heading}: " + ", ".join(
        f"hop {b.number} {b.stop.kind.label} {b.stop.component} {_LOOKS[b.stop.verdict].words}" for b in boxes
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {total}" width="100%" role="img" '
        f'style="display:block;height:auto;max-width:100%" font-family="system-ui,sans-serif" font-size="13">'
        f"<title>{escape(title)}</title>{_TARGET_STYLE}{''.join(parts)}</svg>"
    )


@dataclass(frozen=True)
class _Line:
    text: str
    bold: bool = False
    mono: bool = False


def _lines(stop: Stop) -> list[_Line]:
    verdict = stop.verdict
    hop = stop.deciding
    said = "" if verdict is HopVerdict.PASSES else f" · {_LOOKS[verdict].words}"
    lines = [_Line(f"{verdict.mark} {stop.kind.label}{said}", bold=True)]
    lines += [_Line(t, mono=True) for t in _wrap(", ".join(hop.ids), _MONO_CHARS)]
    if verdict is not HopVerdict.PASSES or len(stop.hops) == 1:
        lines += [_Line(t) for t in _wrap(f"{hop.question}: {hop.answer}" if hop.answer else hop.question)]
    else:
        lines.append(_Line(f"{len(stop.hops)} questions, each allowed"))
    if verdict is not HopVerdict.PASSES and hop.decided_by:
        lines += [_Line(t) for t in _wrap(f"decided by {hop.decided_by}")]
    return lines


def _wrap(text: str, width: int = _TEXT_CHARS) -> list[str]:
    # Ids and rules are long words: break them rather than let them run out of the box.
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def _box(box: Drawn, lines: list[_Line], y: int, height: int, *, beyond: bool) -> str:
    look = _LOOKS[box.stop.verdict]
    dashed = f' stroke-dasharray="{look.dash}"' if look.dash else ""
    faded = f' opacity="{_BEYOND}"' if beyond else ""
    texts = []
    for i, line in enumerate(lines):
        weight = ' font-weight="700"' if line.bold else ""
        family = ' font-family="ui-monospace,monospace" font-size="12"' if line.mono else ""
        baseline = y + _PAD + _LINE * i + 13
        attributes = f'x="{_BOX_X + _PAD}" y="{baseline}" fill="{look.ink}"{weight}{family}'
        texts.append(f"<text {attributes}>{escape(line.text)}</text>")
    return (
        f'<g class="hop {box.stop.verdict}" id="{box.anchor}"{faded}>'
        f'<rect x="{_BOX_X}" y="{y}" width="{WIDTH - _BOX_X - _MARGIN}" height="{height}" rx="6" fill="{look.fill}" '
        f'stroke="{look.stroke}" stroke-width="{look.stroke_width}"{dashed}/>'
        f'<circle cx="{_CENTRE}" cy="{y + _RADIUS + 1}" r="{_RADIUS}" fill="{look.stroke}"/>'
        f'<text x="{_CENTRE}" y="{y + _RADIUS + 5}" text-anchor="middle" fill="#fff" font-weight="700" '
        f'font-size="12">{box.number}</text>'
        f"{''.join(texts)}</g>"
    )


# ----- what a plan step opens ----------------------------------------------------------------------------------------


def opened_by(ids: Iterable[str], paths: Sequence[Path]) -> tuple[Drawn, ...]:
    """The boxes that block (or may) and stand for one of `ids`, compared exactly: what a change to those opens."""
    wanted = set(ids)
    return tuple(
        box
        for path in paths
        for box in drawn(path)
        if box.stop.verdict in (HopVerdict.BLOCKS, HopVerdict.DOUBT)
        and any(wanted & set(hop.ids) for hop in box.stop.hops)
    )


def step_written(step: ProposedStep) -> tuple[str, ...]:
    """The ids a stored plan step writes, its undo's too: `Step.writes` read back."""
    calls = [step.call] + ([step.undo] if step.undo is not None else [])
    return tuple(w.id for call in calls for w in written_by(call))


def pointer(boxes: Sequence[Drawn], verb: str) -> str:
    """HTML: a same-page link to each box (`#hop-db-7`), its words escaped."""
    links = ", ".join(f'<a href="#{b.anchor}">{escape(f"{verb} {b.words}".strip())}</a>' for b in boxes)
    return f" {links}" if links else ""


def pointers(fix: ProposedFix, findings: Sequence[Finding], paths: Sequence[Path]) -> tuple[list[str], str]:
    """For a stored fix: each step's link to the hop it opens (a step that writes one of the hop's ids),
    and, when none of its steps does (a new endpoint goes around a route table), a line linking the hops its
    findings name."""
    steps = [pointer(opened_by(step_written(s), paths), "← opens") for s in fix.steps]
    if any(steps):
        return steps, ""
    codes = set(fix.fixes)
    named = [r for f in findings if f.code in codes for r in f.resources]
    answered = opened_by(named, paths)
    return steps, f"<p>For the block at{pointer(answered, '')}</p>" if answered else ""
