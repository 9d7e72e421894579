#!/usr/bin/env python
"""Parse a `.diagram.svg` as XML (fails on anything that is not well-formed SVG) and print, as
JSON, the tables and dependencies it draws:

    diagram_svg.py FILE

    {"tables": {"<Class>": "<tier>", ...}, "edges": [["<Parent>", "<Child>"], ...]}

Tables are the `<g class="node">` groups (name from their `<title>`, which must equal the drawn
`<text>`); edges the `<g class="edge">` groups (title `Parent->Child`, which must agree with their
`data-parent` / `data-child` attributes and hold a `<path>`).
"""

import json
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def main():
    root = ET.parse(sys.argv[1]).getroot()
    assert root.tag == SVG + "svg", root.tag
    float(root.get("width").removesuffix("pt"))
    float(root.get("height").removesuffix("pt"))
    tables = {}
    edges = []
    for g in root.iter(SVG + "g"):
        kind = g.get("class")
        title = g.find(SVG + "title").text
        if kind == "node":
            assert g.find(SVG + "text").text == title, title
            assert title not in tables, f"{title} drawn twice"
            tables[title] = g.get("data-tier")
        elif kind == "edge":
            parent, child = g.get("data-parent"), g.get("data-child")
            assert title == f"{parent}->{child}", (title, parent, child)
            assert g.find(SVG + "path") is not None, title
            edges.append([parent, child])
    json.dump({"tables": tables, "edges": sorted(edges)}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
