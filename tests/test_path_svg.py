"""The approval page's picture of a path (`approvals/path_svg.py`): what it draws, and that nothing from AWS can
become markup in it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from rotation_doctor.approvals import path_svg
from rotation_doctor.model.paths import Hop, HopKind, HopVerdict, Path, PathCase, PathLeg

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "</svg><script>alert(1)</script>\"' onload=\"alert(2)\" &amp; <foreignObject><a href='javascript:x'>"


def hostile_path() -> Path:
    """Every text a hop carries, hostile; the blocking hop's too."""
    case = PathCase(
        f"subnet-{HOSTILE}",
        (
            Hop(HopKind.FUNCTION, HOSTILE, "where it sends from", f"from {HOSTILE}", HopVerdict.PASSES),
            Hop(
                HopKind.SECURITY_GROUPS,
                f"sg-{HOSTILE}",
                f"TCP 5432 in from {HOSTILE}",
                HOSTILE,
                HopVerdict.BLOCKS,
                decided_by=HOSTILE,
                resources=(f"sg-{HOSTILE}", "sg-2 & <b>"),
            ),
            Hop(HopKind.DATABASE, HOSTILE, "TCP 5432", "not reached", HopVerdict.PASSES),
        ),
    )
    return Path(PathLeg.DB, (case,), 1)


def test_hostile_text_stays_text_in_the_picture() -> None:
    """The SVG is well-formed XML whose elements are only ours: the hostile strings are text nodes, whole."""
    drawing = path_svg.svg(hostile_path())
    root = ET.fromstring(drawing)  # a raw `<`, `&` or quote from AWS would break this or add elements
    tags = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert tags <= {"svg", "title", "style", "line", "g", "rect", "circle", "text"}, tags
    for element in root.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and "href" not in name.lower(), name
            assert "alert" not in value and "javascript" not in value, (name, value)
    assert {e.get("id") for e in root.iter(f"{SVG}g")} == {"hop-db-1", "hop-db-2", "hop-db-3"}  # ids are ours
    words = " ".join(root.itertext())
    assert f"sg-{HOSTILE[:30]}" in words and "sg-2 & <b>" in words  # shown as written, for the console
    assert "</svg><script>" not in drawing and "<foreignObject" not in drawing


class _Tags(HTMLParser):
    """What a browser's HTML parser makes of the page's fragment: every start tag and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.append((tag, dict(attrs)))


def test_hostile_text_stays_text_in_the_caption_and_the_step_links() -> None:
    path = hostile_path()
    html = path_svg.section([path]) + path_svg.pointer(path_svg.opened_by(["sg-2 & <b>"], [path]), "← opens")
    parser = _Tags()
    parser.feed(html)
    tags = {tag for tag, _ in parser.seen}
    assert tags <= {"h2", "div", "figure", "figcaption", "b", "br", "svg", "title", "style", "line", "g", "rect",
                    "circle", "text", "a"}, tags  # fmt: skip
    links = [attrs["href"] for tag, attrs in parser.seen if tag == "a"]
    assert links == ["#hop-db-2"]  # our anchor, found by the exact id the step writes
    for _, attrs in parser.seen:
        assert not any(name.startswith("on") for name in attrs), attrs


def test_each_box_says_its_verdict_in_words_not_colour_alone() -> None:
    hops = tuple(
        Hop(HopKind.NETWORK_ACL, f"acl-{v}", "request inbound TCP 5432", "denied", v, decided_by="rule 90")
        for v in HopVerdict
    )
    drawing = path_svg.svg(Path(PathLeg.DB, (PathCase("subnet-a", hops),), 1))
    boxes = {g.get("id"): " ".join(g.itertext()) for g in ET.fromstring(drawing).iter(f"{SVG}g")}
    assert boxes["hop-db-1"].startswith("1 ✓ network ACL acl-passes")
    assert (
        boxes["hop-db-2"].startswith("2 ✗ network ACL · blocked here acl-blocks")
        and "decided by rule 90" in boxes["hop-db-2"]
    )
    assert boxes["hop-db-3"].startswith("3 ! network ACL · may block")
    assert boxes["hop-db-4"].startswith("4 ? network ACL · not evaluated")


def test_a_long_id_is_broken_inside_its_box() -> None:
    long_id = "sg-" + "0123456789abcdef" * 6
    hop = Hop(HopKind.SECURITY_GROUPS, long_id, "TCP 5432 in from rotation function f", "no rule", HopVerdict.BLOCKS)
    drawing = path_svg.svg(Path(PathLeg.DB, (PathCase("subnet-a", (hop,)),), 1))
    lines = [t.text or "" for t in ET.fromstring(drawing).iter(f"{SVG}text")]
    ids = [t.text or "" for t in ET.fromstring(drawing).iter(f"{SVG}text") if "monospace" in t.get("font-family", "")]
    assert "".join(ids) == long_id and len(ids) == 3
    assert max(len(line) for line in lines) <= 42
