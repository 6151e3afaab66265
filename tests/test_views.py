"""Tables as a reader sees them (`lab.views.show`) and the captions that say where numbers come from
(`lab.views.caption`): against hand-written expectations, no training."""
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from lab import presets, provenance, views


class _Cells(HTMLParser):
    """The caption, header cells and body rows of a `View`'s HTML, as a browser would read them."""

    def __init__(self):
        super().__init__()
        self.caption, self.head, self.rows, self.align, self._in, self._text = "", [], [], [], None, ""

    def handle_starttag(self, tag, attrs):
        if tag in ("th", "td") or (tag == "p" and ("class", "lab-view-caption") in attrs):
            self._in, self._text = tag, ""
            if tag != "p":
                self.align.append(re.search(r"text-align:(\w+)", dict(attrs)["style"]).group(1))
        elif tag == "tr" and self.head:
            self.rows.append([])

    def handle_data(self, data):
        if self._in:
            self._text += data

    def handle_endtag(self, tag):
        if tag != self._in:
            return
        if tag == "p":
            self.caption = self._text
        elif tag == "th":
            self.head.append(self._text)
        else:
            self.rows[-1].append(self._text)
        self._in = None


def parsed(view: views.View) -> _Cells:
    cells = _Cells()
    cells.feed(view._repr_html_())
    return cells


@pytest.fixture
def table():
    """float32 digits as the tables have them, an integer column, a missing value and a negative zero-ish value."""
    return pd.DataFrame({"model": ["birealnet", "quicknet"], "top1": np.array([66.100001, 61.45], dtype="float32"),
                         "seeds": [2, 3], "size_ratio": [1.032391, np.nan], "diff": [-0.04, 2.449]})


def test_numbers_are_rounded_integers_kept_missing_shown_as_a_dash(table):
    cells = parsed(views.show(table, caption="Table A", digits={"size_ratio": 2}))
    assert cells.head == ["model", "top1", "seeds", "size_ratio", "diff"]
    assert cells.rows == [["birealnet", "66.1", "2", "1.03", "0.0"], ["quicknet", "61.5", "3", views.EMPTY, "2.4"]]
    assert parsed(views.show(table, caption="c", digits=3)).rows[0][1] == "66.100"


def test_no_index_and_a_meaningful_index_becomes_a_column(table):
    html = views.show(table.set_index("model"), caption="c")._repr_html_()
    cells = parsed(views.show(table.set_index("model"), caption="c"))
    assert cells.head[0] == "model" and cells.rows[0][0] == "birealnet"
    assert ">0<" not in views.show(table, caption="c")._repr_html_() and "birealnet" in html  # no 0, 1 row labels
    unstacked = pd.DataFrame({"model": ["a", "a", "b"], "op": ["x", "y", "x"], "ms": [1.0, 2.0, 3.0]}).pivot(
        index="model", columns="op", values="ms")
    assert parsed(views.show(unstacked, caption="c")).head == ["model", "x", "y"]
    metrics = pd.Series({"run_id": "r", "top1": 0.61234, "epochs": 3}, name="value").to_frame()  # runs.metrics_table
    cells = parsed(views.show(metrics, caption="c", columns={"index": "metric", "value": "value"}, digits=3))
    assert cells.head == ["metric", "value"] and cells.rows == [["run_id", "r"], ["top1", "0.612"], ["epochs", "3"]]


def test_columns_select_and_rename_in_the_given_order(table):
    cells = parsed(views.show(table, caption="c", columns={"top1": "top-1 %", "model": "network"}))
    assert cells.head == ["top-1 %", "network"] and cells.rows[0] == ["66.1", "birealnet"]
    assert parsed(views.show(table, caption="c", columns=["seeds"])).head == ["seeds"]


def test_digits_follow_a_column_after_it_is_renamed(table):
    cells = parsed(views.show(table, caption="c", columns={"size_ratio": "size / sign"}, digits={"size_ratio": 3}))
    assert cells.rows[0] == ["1.032"]


def test_stale_inputs_are_never_hidden_by_a_selection(table):
    stale = table.assign(stale=["run: code changed", ""])
    assert parsed(views.show(stale, caption="c", columns=["model"])).head == ["model", views.ALWAYS["stale"]]
    fresh = table.assign(stale=["", ""], device_latency_ms=np.nan)
    assert parsed(views.show(fresh, caption="c", columns=["model"])).head == ["model"]


def test_a_long_table_shows_its_first_rows_and_names_its_csv(tmp_path):
    long = pd.DataFrame({"layer": [f"conv{i}" for i in range(30)], "value": np.linspace(0, 1, 30)})
    csv = provenance.REPO_ROOT / "results" / "cpu" / "binarization" / "uniqueness.csv"
    view = views.show(long, caption="Uniqueness", csv=csv, max_rows=5)
    cells = parsed(view)
    assert [row[0] for row in cells.rows] == ["conv0", "conv1", "conv2", "conv3", "conv4"]
    html = view._repr_html_()
    assert "first 5 of 30 rows shown; all 30 rows:" in html
    assert f'<code class="{views.CSV_CLASS}">results/cpu/binarization/uniqueness.csv</code>' in html
    last = "first 5 of 30 rows shown; all 30 rows: results/cpu/binarization/uniqueness.csv"
    assert repr(view).splitlines()[-1] == last
    short = views.show(long.head(5), caption="c", csv=csv, max_rows=5)._repr_html_()
    assert "rows shown" not in short and views.CSV_CLASS not in short


def test_the_caption_is_above_and_the_table_fits_the_page(table):
    view = views.show(table.assign(a=1, b=2), caption="Table A & the paper")
    cells = parsed(view)
    assert cells.caption == "Table A & the paper" and repr(view).splitlines()[0] == "Table A & the paper"
    html = view._repr_html_()
    assert re.search(r'<div class="lab-view" style="[^"]*max-width:100%;overflow-x:auto', html)
    assert "width:100%" in html.split("<table", 1)[1].split(">", 1)[0]  # 7 columns: the page's width
    assert "white-space:normal" in html and "anywhere" not in html  # headers wrap at spaces, never inside a word


def test_numbers_align_right_text_left_and_long_text_is_cut(table):
    cells = parsed(views.show(table.assign(note=["x" * 500, None]), caption="c", columns=["model", "top1", "note"]))
    assert cells.align == ["left", "right", "left"] * 3  # header, then each row
    assert cells.rows[0][2] == "x" * (views.MAX_CELL - 1) + "…" and cells.rows[1][2] == views.EMPTY


def test_the_caption_title_is_bold_and_the_scale_plain(table):
    html = views.show(table, caption="Table A — ours: preset cpu")._repr_html_()
    assert '<b>Table A</b> — ours: preset cpu</p>' in html


def test_text_is_escaped(table):
    html = views.show(table.assign(model=["<b>x</b>", "y"]), caption="a <i>", columns=["model"])._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "a &lt;i&gt;" in html


@pytest.mark.parametrize("arguments, message", [
    ({"table": [1, 2]}, "^table: must be a pandas DataFrame"),
    ({"caption": ""}, "^caption: must be a non-empty one-line text"),
    ({"caption": "two\nlines"}, "^caption: must be a non-empty one-line text"),
    ({"digits": -1}, r"^digits: must be an integer >= 0 or a \{column: integer >= 0\} mapping"),
    ({"digits": {"top1": 1.5}}, "^digits: must be"),
    ({"columns": ["top1", "nope"]}, r"^columns: must be columns of the table .*, got \['nope'\]"),
    ({"columns": []}, "^columns: must be None, a non-empty list"),
    ({"csv": 3}, "^csv: must be None or a path"),
    ({"max_rows": 0}, "^max_rows: must be an integer >= 1, got 0"),
])
def test_bad_input_is_named(table, arguments, message):
    with pytest.raises(ValueError, match=message):
        views.show(**{"table": table, "caption": "c", **arguments})


# --------------------------------------------------------------------------------------------- captions
@pytest.fixture
def cpu_only(monkeypatch):
    """Captions without asking TensorFlow: this host trains on its CPU."""
    monkeypatch.setattr(views, "_training_device", lambda: "this host's CPU (Test CPU, 2 cores)")
    monkeypatch.setattr(provenance, "cpu_model", lambda: "Test CPU")


def test_caption_names_scale_and_device_of_each_kind_of_number(cpu_only):
    train = presets.load("cpu").train
    text = views.caption("cpu", ["training", "latency", "paper"], title="Table A")
    side = train["image_size"]
    assert text == (f"Table A — ours: preset cpu, {train['dataset']}, {side}x{side} px, "
                    f"width {train['width']:g}, trained on this host's CPU (Test CPU, 2 cores); latency and size: "
                    f"fresh networks at 224x224x3, width 1, 1000 classes, LCE interpreter on this host's CPU, "
                    f"1 thread(s); {views.PAPER_DEVICE}.")
    assert "\n" not in text


def test_caption_of_latency_alone_names_the_host_cpu_and_the_edge_settings(cpu_only):
    edge = presets.load("smoke").edge
    assert views.caption("smoke", "edge") == (
        f"ours: preset smoke; latency and size: {edge.input_size}x{edge.input_size}x3, width {edge.width:g}, LCE "
        f"interpreter on this host's x86 CPU (Test CPU), 1 thread(s).")
    assert "96x96x3, width 0.5," in views.caption("smoke", "edge", settings={"input_size": 96, "width": 0.5,
                                                                             "networks": None})


def test_caption_takes_a_runs_overrides_as_a_mapping_or_yaml(cpu_only):
    assert "digits, 32x32 px, width 0.25, trained" in views.caption("smoke", "training", settings={"width": 0.25})
    assert "width 0.25," in views.caption("smoke", "training", settings="{width: 0.25}")
    assert views.caption("smoke", "paper") == f"ours: preset smoke; {views.PAPER_DEVICE}."


@pytest.mark.parametrize("arguments, message", [
    ({"preset": "laptop"}, "^preset: must be one of"),
    ({"what": "speed"}, r"^what: must be a non-empty list of \('training', 'latency', 'edge', 'paper'\)"),
    ({"what": []}, "^what: must be a non-empty list"),
    ({"title": "a\nb"}, "^title: must be a one-line text"),
    ({"settings": 3}, "^settings: must be a mapping"),
])
def test_caption_bad_input_is_named(cpu_only, arguments, message):
    with pytest.raises(ValueError, match=message):
        views.caption(**{"preset": "smoke", "what": "training", **arguments})


def test_the_tables_selections_name_existing_reader_columns():
    for selection in (views.TABLE_A_ACCURACY, views.TABLE_A_DEPLOYMENT, views.TABLE_B, views.BINARIZERS,
                      views.LABBNN):
        assert all(isinstance(name, str) and name for name in selection.values())
        assert len(set(selection.values())) == len(selection), "two columns under one reader name"
