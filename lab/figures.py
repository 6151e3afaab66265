"""How the notebooks' figures are shown, stamped and saved, so that they stay viewable offline: altair charts (the
tables' in `lab.table_charts`, Fig. 6 in `lab.edge`, uniqueness in `lab.binarization`) and matplotlib figures
(Fig. 1, `lab.binarization`).

An altair chart is shown (:func:`show`) as a bundle of its Vega-Lite spec (interactive in JupyterLab and, through
:mod:`lab.reproduce`, in the offline HTML report) plus a static SVG rendered by vl-convert (for any other viewer).
A notebook publishes a figure (:func:`publish`, :func:`publish_all`): stamped with where its numbers come from
(:func:`origin`), saved under ``results/<preset>/<notebook>/`` with its provenance, and shown with a one-line caption
under it (:func:`show_caption`; `lab.views.caption`: the scale and the device of its numbers).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import altair as alt

from lab import provenance, views

# What a figure's numbers are when its notebook does not say: the tables' charts (ours trained, host latency at the
# deployment shape, the paper's).
DEFAULT_KINDS = ("training", "latency", "paper")
VEGALITE_MIME = "application/vnd.vegalite.v5+json"  # the Vega-Lite mime type JupyterLab renders


def chart_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as a static SVG, rendered without a browser or network by vl-convert."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict())


def show(chart: alt.TopLevelMixin) -> None:
    """Display ``chart`` in a notebook as its Vega-Lite spec plus a static SVG (see the module docstring)."""
    from IPython.display import display

    spec = chart.to_dict()
    title = spec.get("title", "")
    display({VEGALITE_MIME: spec, "image/svg+xml": chart_svg(chart), "text/plain": f"<chart {title}>"}, raw=True)


def save(figure, path: str | Path, params: dict | None = None) -> list[Path]:
    """Save an altair chart (``.svg`` and its ``.vl.json`` spec) or a matplotlib figure (``.png``) under ``path``
    (suffix ignored), with a provenance sidecar ``<name>.provenance.json``."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(figure, alt.TopLevelMixin):
        files = [path.with_suffix(".svg"), path.with_suffix(".vl.json")]
        files[0].write_text(chart_svg(figure))
        files[1].write_text(json.dumps(figure.to_dict(), indent=1))
    else:
        files = [path.with_suffix(".png")]
        figure.savefig(files[0], dpi=120, bbox_inches="tight")
    provenance.write_json(path.with_name(path.name + ".provenance.json"), {"files": [f.name for f in files]}, params)
    return files


def origin(preset: str) -> str:
    """Where our numbers come from, for a figure's subtitle: the scale, the machine and the code."""
    machine = provenance.device()
    where = ", ".join(machine["gpus"]) or machine["cpu"]
    return f"ours: preset {preset} on {where} ({machine['kind']}), lab {provenance.git_commit()[:7]}"


def stamp(figure, preset: str):
    """``figure`` with `origin` under its title (altair: a subtitle; matplotlib: a grey line at the bottom)."""
    if isinstance(figure, alt.TopLevelMixin):
        title = figure.title.copy() if isinstance(figure.title, alt.TitleParams) else alt.TitleParams(
            text="" if figure.title is alt.Undefined else figure.title, anchor="start")
        title.subtitle = origin(preset)
        return figure.properties(title=title)
    figure.text(0.01, 0.0, origin(preset), fontsize=7, color="grey", va="top")
    return figure


def show_caption(text: str) -> None:
    """Display ``text`` as a figure's caption: one line of Markdown, in italics, under the figure just shown."""
    views.note(views.check_caption(text), italic=True)


def publish(figure, *, preset: str, notebook: str, name: str, params: dict | None = None,
            caption: str | None = None) -> None:
    """Show a chart or matplotlib figure, stamped with its `origin`, in the notebook with ``caption`` under it
    (default: `lab.views.caption` of `DEFAULT_KINDS`) and save it as ``results/<preset>/<notebook>/<name>``."""
    caption = views.check_caption(views.caption(preset, DEFAULT_KINDS) if caption is None else caption)
    figure = stamp(figure, preset)
    save(figure, provenance.out_dir(preset, notebook) / name, {"preset": preset, **(params or {})})
    if isinstance(figure, alt.TopLevelMixin):
        show(figure)
    else:
        import matplotlib.pyplot as plt
        from IPython.display import display

        display(figure)
        plt.close(figure)  # shown once: the inline backend would show a pyplot figure again at the cell's end
    show_caption(caption)


def publish_all(figures: Mapping[str, object], *, preset: str, notebook: str, params: dict | None = None,
                caption: str | None = None) -> None:
    """`publish` each of ``{name: chart or figure}`` (e.g. `lab.table_charts.table_a`), in order, each with
    ``caption`` (default: `publish`'s)."""
    caption = views.caption(preset, DEFAULT_KINDS) if caption is None else caption
    for name, figure in figures.items():
        publish(figure, preset=preset, notebook=notebook, name=name, params=params, caption=caption)
