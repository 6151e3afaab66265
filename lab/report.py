"""What the batch publishes from its executed notebooks: copies without this machine's paths, and one offline HTML
report.

:func:`scrub_notebook` rewrites an executed notebook without this machine's paths (`lab.provenance.scrub_paths`).
:func:`build_report` merges executed notebooks into ``report.html``: the claims first (`FIRST`, whatever order the
batch ran them in), a table of contents, outputs only (no code, no printed text), images embedded, tables and figures
kept within the page's width, long tables' CSV files linked, and altair charts rendered by an inlined copy of Vega /
Vega-Lite / Vega-Embed (vl-convert's bundle) with a static SVG underneath, so the report needs no network at all
(:func:`offline_check` verifies that with headless Chromium). `lab.reproduce` runs the batch that writes them.
"""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

from lab.provenance import REPO_ROOT, RESULTS_ENV, git_commit, results_root, scrub_paths
from lab.views import CSV_CLASS

CHROMIUM = Path("/usr/bin/chromium")
CHART_CLASS = "lab-chart"
# Notebooks the report shows before all others, in this order: the verdicts come first, the evidence after.
FIRST = ("claims",)
# Nothing wider than the page: outputs scroll inside their own box; images and drawn charts shrink to fit.
PAGE_CSS = """<style>
.jp-OutputArea-output { max-width: 100%; overflow-x: auto; }
.jp-RenderedHTMLCommon table { max-width: 100%; }
.jp-OutputArea-output img, .lab-chart svg { max-width: 100%; height: auto; }
.jp-RenderedMarkdown em { color: #555; }
</style>"""


# --------------------------------------------------------------------------------------------- executed notebooks
# Outputs papermill keeps base64-encoded: never text to scrub.
_BINARY_MIME = re.compile(r"^image/(?!svg)|^application/pdf$")


def _scrubbed(value):
    """``value`` (text, or lists / dicts of it) without this machine's paths."""
    if isinstance(value, str):
        return scrub_paths(value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {k: v if _BINARY_MIME.match(k) else _scrubbed(v) for k, v in value.items()}
    return value


def scrub_notebook(path: Path) -> None:
    """Rewrite an executed notebook without this machine's paths: papermill's metadata (input and output paths),
    the injected parameters and every textual output (prints, warnings, tracebacks, tables)."""
    import nbformat

    book = nbformat.read(str(path), as_version=4)
    book.metadata["papermill"] = _scrubbed(book.metadata.get("papermill", {}))
    for cell in book.cells:
        cell.source = scrub_paths(cell.source)
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(_scrubbed(output)) for output in cell.outputs]
    nbformat.write(book, str(path))


# --------------------------------------------------------------------------------------------- the report
_ALTAIR_HTML = re.compile(r"\}\)\((\{.*\}), (\{\"mode\": \"vega-lite\".*?\})\);\s*</script>", re.S)
_VEGALITE_MIME = re.compile(r"^application/vnd\.vegalite\.v\d+(\.\d+)*[.+]json$")
_EXTERNAL = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>|"
                       r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.I)


def _chart_spec(data: dict) -> tuple[dict, str | None] | None:
    """``(Vega-Lite spec, static SVG or None)`` of an output that shows an altair chart, else ``None``.

    Recognised: a Vega-Lite mime bundle (`lab.figures.show`, altair's "mimetype" renderer) and altair's default
    HTML output (which would load Vega from a CDN)."""
    for mime, value in data.items():
        if _VEGALITE_MIME.match(mime):
            spec = json.loads(value) if isinstance(value, str) else value
            return spec, data.get("image/svg+xml")
    match = _ALTAIR_HTML.search(data.get("text/html", "")) if "text/html" in data else None
    return (json.loads(match.group(1)), None) if match else None


def _script_json(value) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    return json.dumps(value).replace("</", "<\\/")


def chart_html(spec: dict, svg: str | None, index: int) -> str:
    """A chart for the report: its static SVG, replaced by the interactive Vega-Embed view once that has drawn."""
    import vl_convert as vlc

    svg = svg or vlc.vegalite_to_svg(spec)
    chart_id = f"{CHART_CLASS}-{index}"
    return (f'<div class="{CHART_CLASS}" id="{chart_id}"><div class="{CHART_CLASS}-static">{svg}</div></div>\n'
            f'<script type="text/javascript">(function () {{\n'
            f'  var box = document.getElementById("{chart_id}");\n'
            f'  vegaEmbed(box.appendChild(document.createElement("div")), {_script_json(spec)},\n'
            f'            {{"renderer": "svg", "actions": false}})\n'
            f'    .then(function () {{ box.querySelector(".{CHART_CLASS}-static").remove(); }})\n'
            f'    .catch(function (error) {{ console.error(error); }});\n'
            f'}})();</script>')


def _report_outputs(outputs: list, counter: list[int]) -> list:
    """A code cell's outputs for the report: printed text (logs, warnings, progress) dropped, altair charts made
    offline; tables, figures and charts kept."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            continue
        chart = _chart_spec(output.get("data", {})) if "data" in output else None
        if chart:
            counter[0] += 1
            output["data"] = {"text/html": chart_html(*chart, counter[0])}
            output.pop("metadata", None)
            output["metadata"] = {}
        kept.append(output)
    return kept


def report_order(executed: Sequence[Path]) -> list[Path]:
    """``executed`` in the report's order: the `FIRST` notebooks first, the others as given (the batch's order)."""
    first = [p for name in FIRST for p in executed if p.stem == name]
    return first + [p for p in executed if p not in first]


def _title(book, fallback: str) -> str:
    """A notebook's title: its first Markdown heading, else ``fallback``."""
    for cell in book.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def _anchor(name: str) -> str:
    """The HTML id a notebook's section starts at (the table of contents links to it)."""
    return f"nb-{name}"


def merge(executed: Sequence[Path], *, title: str):
    """One notebook holding the executed notebooks in `report_order` under a table of contents (charts prepared for
    the offline report), and the number of charts in it."""
    import nbformat

    executed = report_order(executed)
    books = [nbformat.read(str(p), as_version=4) for p in executed]
    contents = "\n".join(f"{i}. [{_title(book, p.stem)}](#{_anchor(p.stem)})"
                          for i, (p, book) in enumerate(zip(executed, books), start=1))
    header = (f"# {title}\n\nCode commit {git_commit()}; built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
              f"Numbers labelled *paper* are published (ImageNet, Nvidia Jetson Xavier NX); all others were measured "
              f"by this batch.\n\n**Contents**\n\n{contents}")
    merged = nbformat.v4.new_notebook(metadata=books[0].metadata if books else {})
    merged.cells.append(nbformat.v4.new_markdown_cell(header))
    counter = [0]
    for path, book in zip(executed, books):
        merged.cells.append(nbformat.v4.new_markdown_cell(f'<a id="{_anchor(path.stem)}"></a>'))
        for cell in book.cells:
            if cell.cell_type == "code":
                cell.outputs = _report_outputs(cell.outputs, counter)
            merged.cells.append(cell)
    return merged, counter[0]


_CSV = re.compile(rf'<code class="{CSV_CLASS}">([^<]+)</code>')


def _csv_links(body: str, report: Path) -> str:
    """Each long table's CSV (`lab.views.show`: its path relative to the repository or ``$LAB_RESULTS``) as a link
    relative to the report, so that it opens wherever the results folder is copied with the report."""
    def link(match):
        shown = html.unescape(match.group(1))
        prefix = f"${RESULTS_ENV}/"
        target = results_root() / shown[len(prefix):] if shown.startswith(prefix) else REPO_ROOT / shown
        href = os.path.relpath(target, report.resolve().parent)
        return f'<a class="{CSV_CLASS}" href="{html.escape(href)}"><code>{match.group(1)}</code></a>'

    return _CSV.sub(link, body)


def build_report(executed: Sequence[Path], path: Path, *, title: str = "LAB reproduced") -> Path:
    """Write the executed notebooks as one self-contained HTML report (no code, no network needed), the claims
    first."""
    import vl_convert as vlc
    from nbconvert import HTMLExporter

    merged, charts = merge(executed, title=title)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    body, _ = exporter.from_notebook_node(merged, resources={"metadata": {"name": title}})
    body = _EXTERNAL.sub("", body)  # require.js, MathJax, fonts: unused, and unreachable offline
    script = vlc.javascript_bundle().replace("</script", "<\\/script")
    bundle = f'<script type="text/javascript">{script}</script>'
    body = body.replace("</head>", f"{bundle}\n{PAGE_CSS}\n<!-- lab-charts: {charts} -->\n</head>", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_csv_links(body, path))
    return path


def report_chart_count(report: Path) -> int:
    """How many charts :func:`build_report` put into ``report``."""
    match = re.search(r"<!-- lab-charts: (\d+) -->", report.read_text())
    return int(match.group(1)) if match else 0


def offline_check(report: Path, *, chromium: Path = CHROMIUM, timeout_s: int = 120) -> dict:
    """Render ``report`` in headless Chromium with networking off and count what was drawn.

    Returns ``{"charts", "rendered", "static_left", "images"}``: the report's charts, interactive Vega views drawn
    (``svg.marks``), static fallbacks that were never replaced (a chart whose script failed) and ``<img>`` tags."""
    if not chromium.exists():
        raise FileNotFoundError(f"chromium: {chromium} not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--proxy-server=127.0.0.1:9", "--virtual-time-budget=30000", "--dump-dom", report.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout_s, check=True)
    dom = done.stdout
    return {"charts": report_chart_count(report), "rendered": dom.count('class="marks"'),
            "static_left": dom.count(f'class="{CHART_CLASS}-static"'), "images": dom.count("<img")}
