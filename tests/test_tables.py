"""The tables and what they are built from: the runs each table notebook plans (`lab.plans`), the published
numbers (`lab.paper`), the charts (`lab.table_charts`, `lab.figures`), the trained runs' converted graphs reused while
their fingerprint holds (`lab.trained_graphs`), latency and size at the deployment shape (`lab.deployment`) and the
tables built from them (`lab.tables`), on stand-in runs and graphs (no training, no conversion)."""
import json
import re

import pytest


@pytest.fixture
def results(results_root):
    """An empty results root, exported as $LAB_RESULTS (conftest's `results_root`)."""
    return results_root


PRESET = {"train": {"dataset": "digits", "seed": 0}, "models": ["xnornet", "birealnet", "labbnn"],
          "ablation_model": "birealnet", "ablation_masks": ["0000", "1111", "1011"], "seeds": [0]}


@pytest.fixture
def preset(monkeypatch):
    from lab import presets

    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, PRESET))
    return "smoke"


def test_planned_runs_are_shared_between_tables(preset):
    from lab import plans

    labels = [run.label for run in plans.planned_runs(preset)]
    # Fig. 1 and Table A first; Table B's 0000 / 1111 are Table A's sign / LAB runs; then the new ones in order.
    assert labels == ["birealnet sign (seed 0)", "birealnet lab (seed 0)", "xnornet sign (seed 0)",
                      "xnornet lab (seed 0)", "birealnet lab 1011 (seed 0)", "birealnet niblack (seed 0)",
                      "birealnet sauvola (seed 0)", "labbnn lab (seed 0)"]
    only_b = plans.planned_runs(preset, notebooks=["ablation_lab_blocks", "edge_latency"])
    assert [run.overrides for run in only_b] == [
        {"model": "birealnet", "binarizer": "sign", "seed": 0}, {"model": "birealnet", "binarizer": "lab", "seed": 0},
        {"model": "birealnet", "binarizer": "lab", "lab_blocks": "1011", "seed": 0}]


@pytest.mark.parametrize("call, match", [
    (lambda t, p: t.table_b_runs(p, ["101"]), "masks"),
    (lambda t, p: t.table_a_runs(p, ["resnet"]), "models"),
    (lambda t, p: t.comparison_runs(p, "birealnet", ["otsu"]), "binarizers"),
    (lambda t, p: t.comparison_runs(p, "vgg"), "model"),
])
def test_bad_table_arguments_raise(preset, call, match):
    from lab import plans

    with pytest.raises(ValueError, match=match):
        call(plans, preset)


def test_versus_paper_puts_published_numbers_beside_ours():
    import pandas as pd

    from lab import paper
    from lab.table_charts import OURS, PAPER, versus_paper

    ours = pd.DataFrame({"mask": ["1011", "0000"], "top1": [30.0, 20.0], "top5": [60.0, 50.0],
                         "deploy_host_latency_ms": [1.5, 1.0], "deploy_size_mb": [0.02, 0.01]})
    table = ours.merge(paper.table_b().add_prefix("paper_").rename(columns={"paper_mask": "mask"}), on="mask")
    long = versus_paper(table).set_index(["source", "mask"])
    assert long.loc[(OURS, "1011"), "latency_ms"] == 1.5
    assert long.loc[(PAPER, "1011"), ["top1", "latency_ms", "size_mb"]].tolist() == [58.4, 75.3, 4.64]
    assert long.loc[(PAPER, "0000"), "top5"] != long.loc[(PAPER, "0000"), "top5"]  # not published


def test_paper_numbers_are_the_published_ones():
    from lab import paper

    a, b = paper.table_a(), paper.table_b()
    assert len(a) == 8 and set(a["binarizer"]) == {"sign", "lab"}
    assert a.set_index(["model", "binarizer"]).loc[("birealnet", "lab"), "top1"] == 59.1
    assert sorted(b["mask"]) == sorted(f"{i:04b}" for i in range(16))
    assert b.set_index("mask").loc["0001"].tolist() == [55.9, 41.4, 4.54]
    assert paper.LAB_BNN["top1"] == 62.4 and paper.LAB_BNN["size_mb"] == 4.62


def test_seeds_repeat_the_tables_and_ablation_seeds_table_b(monkeypatch):
    from lab import plans, presets

    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, {**PRESET, "seeds": [0, 1],
                                                                           "ablation_seeds": [0]}))
    assert [run.label for run in plans.table_a_runs("smoke", ["xnornet"])] == [
        "xnornet sign (seed 0)", "xnornet sign (seed 1)", "xnornet lab (seed 0)", "xnornet lab (seed 1)"]
    assert [run.seed for run in plans.table_b_runs("smoke")] == [0, 0, 0]
    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, {**PRESET, "seeds": [3, 4]}))
    assert [run.seed for run in plans.table_b_runs("smoke")] == [3, 4] * 3  # without ablation_seeds: the seeds


def test_bars_draw_the_seed_range_of_our_runs():
    import pandas as pd

    from lab import table_charts

    ours = pd.DataFrame({"name": ["a-sign", "a-lab"], "model": ["birealnet"] * 2, "binarizer": ["sign", "lab"],
                         "top1": [70.0, 72.0], "top5": [98.0, 99.0], "deploy_host_latency_ms": [0.3, 0.4],
                         "deploy_size_mb": [0.1, 0.2], "top1_min": [69.0, 71.0], "top1_max": [71.0, 73.0],
                         "paper_top1": [54.4, 59.1]})
    long = table_charts.versus_paper(ours)
    assert long.query("source == @table_charts.PAPER")["top1_max"].isna().all()
    marks = [layer["mark"] for layer in table_charts.bars(long).to_dict()["spec"]["layer"]]
    assert [m["type"] if isinstance(m, dict) else m for m in marks] == ["bar", "rule"]
    assert len(table_charts.bars(long, y="top5").to_dict()["spec"]["layer"]) == 1  # no range for top-5


def test_each_table_notebook_gets_its_named_charts():
    import pandas as pd

    from lab import table_charts

    table = pd.DataFrame({"name": ["birealnet-sign", "birealnet-lab"], "model": ["birealnet"] * 2,
                          "binarizer": ["sign", "lab"], "mask": ["0000", "1111"], "top1": [70.0, 72.0],
                          "top5": [98.0, 99.0], "deploy_host_latency_ms": [0.3, 0.4], "deploy_size_mb": [0.1, 0.2],
                          "paper_top1": [54.4, 59.1], "paper_latency_ms": [72.5, 100.6], "paper_size_mb": [4.18, 4.65]})
    charts = {name: json.dumps(chart.to_dict()) for name, chart in table_charts.table_a(table).items()}
    assert list(charts) == ["table_a_top1", "table_a_latency_ms"]
    assert "Bi-Real Net" in charts["table_a_top1"] and "Table A: top1, sign vs LAB" in charts["table_a_top1"]
    assert list(table_charts.table_b(table)) == ["table_b_scatter"]
    assert list(table_charts.labbnn(table)) == ["labbnn_scatter"]
    compared = {name: json.dumps(chart.to_dict()) for name, chart in table_charts.binarizer_comparison(table).items()}
    assert list(compared) == ["binarizers_top1", "binarizers_latency_ms"]
    assert "birealnet: top1 per binarizer" in compared["binarizers_top1"]
    assert table_charts.OURS in compared["binarizers_top1"] and table_charts.PAPER not in compared["binarizers_top1"]


def test_published_figures_say_which_scale_machine_and_code_made_them():
    import altair as alt
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lab import figures, provenance

    chart = alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").properties(
        title=alt.TitleParams("Table A", fontSize=9))
    title = figures.stamp(chart, "cpu").to_dict()["title"]
    assert title["text"] == "Table A" and title["fontSize"] == 9  # the chart's own title kept
    assert title["subtitle"].startswith("ours: preset cpu on ") and provenance.cpu_model() in title["subtitle"]
    assert provenance.git_commit()[:7] in title["subtitle"]
    figure, _ = plt.subplots()
    assert [t.get_text() for t in figures.stamp(figure, "smoke").texts] == [figures.origin("smoke")]
    plt.close(figure)


def test_table_runs_take_list_parameters_as_text(preset):
    from lab import plans

    assert [r.lab_blocks for r in plans.table_b_runs(preset, '["0000", "1011"]')] == [None, "1011"]
    assert [r.model for r in plans.table_a_runs(preset, "xnornet")] == ["xnornet", "xnornet"]
    assert [r.binarizer for r in plans.comparison_runs(preset, "birealnet", "sign,lab")] == ["sign", "lab"]


# --------------------------------------------------------------------------------------------- fingerprinted reuse
class StandInRun:
    """A trained run on disk and stand-ins for the fold and LCE conversion, counting conversions."""

    def __init__(self, root, monkeypatch):
        import lab
        from lab import deploy, runs

        self.folder = root / "runs" / "r1"
        self.folder.mkdir(parents=True)
        (self.folder / "model.weights.h5").write_bytes(b"weights")
        self.set_run_fingerprint({"code": {"lab/train.py": "t1"}, "packages": {}})
        self.conversions = 0
        monkeypatch.setattr(runs, "load_model", lambda run_id: "net")
        monkeypatch.setattr(lab, "fold", lambda net: net)
        monkeypatch.setattr(deploy, "convert", self.convert)
        monkeypatch.setattr(deploy, "sizes", lambda net, flatbuffer: {"deployed_size_mb": 1.0,
                                                                      "tflite_file_mb": len(flatbuffer) / 2 ** 20})

    def set_run_fingerprint(self, recorded):
        (self.folder / "metrics.json").write_text(json.dumps({"top1": 0.5, "fingerprint": recorded}))

    def convert(self, net, fold):
        self.conversions += 1
        return f"graph {self.conversions}".encode()


@pytest.fixture
def trained(results, monkeypatch):
    monkeypatch.delenv("LAB_KEEP_STALE", raising=False)
    return StandInRun(results, monkeypatch)


def _change(monkeypatch, source="lab/folding.py"):
    """Make ``source`` hash differently from now on, as an edit of it would."""
    from lab import fingerprint

    real = fingerprint.code_hashes
    monkeypatch.setattr(fingerprint, "code_hashes", lambda paths, *a: {
        path: ("edited" if path == source else digest) for path, digest in real(paths, *a).items()})


def test_a_trained_run_is_converted_once_while_its_fingerprint_holds(trained, monkeypatch, capsys):
    from lab import trained_graphs

    first = trained_graphs.convert_run("r1")
    assert trained_graphs.convert_run("r1") == first and trained.conversions == 1
    graph = json.loads((trained.folder / "sizes.json").read_text())["fingerprint"]
    assert "lab/folding.py" in graph["code"] and graph["run"] == {"code": {"lab/train.py": "t1"}, "packages": {}}
    _change(monkeypatch)
    trained_graphs.convert_run("r1")
    assert trained.conversions == 2
    assert "r1: stale: lab/folding.py changed since this graph was converted; redoing it" in capsys.readouterr().out


def test_a_retrained_run_is_converted_again(trained, capsys):
    from lab import trained_graphs

    trained_graphs.convert_run("r1")
    trained.set_run_fingerprint({"code": {"lab/train.py": "t2"}, "packages": {}})
    (trained.folder / "model.weights.h5").write_bytes(b"new weights")
    trained_graphs.convert_run("r1")
    assert trained.conversions == 2
    assert re.search(r"r1: stale: run: lab/train.py changed; weights: '\w+' -> '\w+' since this graph", capsys
                     .readouterr().out)


# --------------------------------------------------------------------------------------------- deployment shape
LATENCY = {"sign": 2.0, "lab": 3.0, "niblack": 5.0}  # stand-in host latency (ms) per binarizer
SIZE = {"sign": 4.0, "lab": 5.0, "niblack": 4.0}  # stand-in deployed size (MiB)


class StandInGraphs:
    """Stand-ins for building, converting, sizing and timing graphs at the deployment shape; ``events`` lists the
    conversions and timing calls in order."""

    def __init__(self, monkeypatch):
        from lab import deploy, timing

        self.events = []
        monkeypatch.setattr(deploy, "build_network", lambda model, **kw: (model, kw["binarizer"], kw["lab_blocks"],
                                                                          kw["input_shape"]))
        monkeypatch.setattr(deploy, "convert", self.convert)
        monkeypatch.setattr(deploy, "sizes", lambda net, flatbuffer: {"deployed_size_mb": SIZE[net[1]],
                                                                      "tflite_file_mb": 2 * SIZE[net[1]]})
        monkeypatch.setattr(timing, "compare_latency", self.compare_latency)

    def convert(self, net, fold):
        self.events.append(("convert", net[:3]))
        return repr(net).encode()

    def compare_latency(self, flatbuffers, **settings):
        self.events.append(("time", [graph.name for graph in flatbuffers]))
        return {graph: {"median_ms": LATENCY[graph.binarizer], "host_cpu": "stand-in cpu", "runs": settings["runs"],
                        "threads": settings["threads"], "times_ms": self.times(graph)} for graph in flatbuffers}

    @staticmethod
    def times(graph):
        """Three rounds around the stand-in latency, the middle one its median."""
        return [LATENCY[graph.binarizer] * f for f in (0.9, 1.0, 1.2)]

    def count(self, kind):
        return sum(event[0] == kind for event in self.events)


@pytest.fixture
def graphs(results, monkeypatch):
    monkeypatch.delenv("LAB_KEEP_STALE", raising=False)
    return StandInGraphs(monkeypatch)


def _graphs():
    from lab.deployment import Graph

    return [Graph("birealnet", "sign"), Graph("birealnet", "lab"), Graph("birealnet", "lab", "1011")]


def test_graphs_are_converted_first_then_timed_together_interleaved(graphs, capsys):
    from lab import deployment

    where = deployment.Shape((32, 32, 3), 0.0625, 10)
    figures = deployment.measure(_graphs(), where, jobs=1)
    kinds = [event[0] for event in graphs.events]
    assert kinds == ["convert"] * 3 + ["time"]  # every conversion before any timing
    assert graphs.events[-1][1] == ["birealnet-sign", "birealnet-lab", "birealnet-lab-1011"]  # one interleaved call
    assert figures[deployment.Graph("birealnet", "lab")] == {"deploy_size_mb": 5.0, "deploy_tflite_mb": 10.0,
                                                           "deploy_host_latency_ms": 3.0}
    out = capsys.readouterr().out
    assert "graph 3/3 converted: birealnet lab 1011 (32x32x3)" in out
    folder = where.folder / "birealnet-lab-1011"
    assert {p.name for p in folder.iterdir()} == {"model.tflite", "sizes.json", "latency.json"}
    latency = json.loads((folder / "latency.json").read_text())
    assert latency["fingerprint"] == deployment.latency_fingerprint(folder / "model.tflite")
    graph = json.loads((folder / "sizes.json").read_text())["fingerprint"]
    assert "lab/models/__init__.py" in graph["code"] and (graph["input_shape"], graph["lab_blocks"]) == (
        [32, 32, 3], "1011")


def test_a_cached_graph_and_latency_are_reused_while_fresh_and_redone_when_stale(graphs, monkeypatch, capsys):
    from lab import deployment

    where = deployment.Shape((224, 224, 3), 1.0, 1000)
    assert where.folder.name == "deploy224"
    first = deployment.measure(_graphs(), where)
    assert deployment.measure(_graphs(), where) == first
    assert (graphs.count("convert"), graphs.count("time")) == (3, 1)
    assert "stale" not in capsys.readouterr().out
    _change(monkeypatch, "lab/models/birealnet.py")
    deployment.measure(_graphs(), where)
    assert (graphs.count("convert"), graphs.count("time")) == (6, 1)  # same graph bytes: latencies still hold
    out = capsys.readouterr().out
    assert "birealnet lab 1011: stale: lab/models/birealnet.py changed since this graph was converted; redoing it" \
        in out
    monkeypatch.setattr("lab.deployment.LATENCY_RUNS", {"runs": 50, "warmup": 3, "threads": 1, "min_seconds": 0.5})
    deployment.measure(_graphs(), where)
    assert (graphs.count("convert"), graphs.count("time")) == (6, 2)
    assert "birealnet sign: stale: timing: runs: 20 -> 50 since this latency was timed; redoing it" in \
        capsys.readouterr().out


def test_latency_json_keeps_each_round_and_one_without_rounds_is_timed_again(graphs, capsys):
    from lab import deployment

    where = deployment.Shape((32, 32, 3), 0.0625, 10)
    deployment.measure(_graphs(), where, jobs=1)
    samples = deployment.latency_samples(_graphs(), where)
    assert {g: s.tolist() for g, s in samples.items()} == {g: graphs.times(g) for g in _graphs()}
    stored = {g: json.loads((where.folder / g.name / "latency.json").read_text()) for g in _graphs()}
    assert len({s["session"] for s in stored.values()}) == 1  # timed together: rounds paired by index
    lab = where.folder / "birealnet-lab" / "latency.json"  # as written before lab stored the rounds
    lab.write_text(json.dumps({k: v for k, v in stored[_graphs()[1]].items() if k not in ("times_ms", "session")}))
    capsys.readouterr()
    deployment.measure(_graphs(), where, jobs=1)
    assert graphs.events[-1] == ("time", ["birealnet-lab"]) and graphs.count("time") == 2
    assert "birealnet lab: stale: no per-round times (timed before lab stored them); redoing it" in \
        capsys.readouterr().out
    with pytest.raises(ValueError, match="birealnet sign 0111: no per-round latencies"):
        deployment.latency_samples([deployment.Graph("birealnet", "sign", "0111")], where)


def test_a_sign_graph_asked_for_unfolded_is_the_folded_one(graphs, capsys):
    from lab import deployment

    where = deployment.Shape((32, 32, 3), 0.0625, 10)
    deployment.measure([deployment.Graph("birealnet", "sign")], where, jobs=1)
    unfolded = deployment.Graph("birealnet", "sign", fold=False)  # the edge study's "sign" variant
    assert unfolded == deployment.Graph("birealnet", "sign")
    deployment.measure([unfolded], where, jobs=1)
    assert graphs.count("convert") == 1 and "stale" not in capsys.readouterr().out


def test_keep_stale_keeps_a_stale_graph_and_says_so(graphs, monkeypatch, capsys):
    from lab import deployment

    where = deployment.Shape((32, 32, 3), 0.0625, 10)
    before = deployment.measure(_graphs()[:1], where)
    _change(monkeypatch)
    monkeypatch.setenv("LAB_KEEP_STALE", "1")
    (kept,) = deployment.measure(_graphs()[:1], where).values()
    assert graphs.count("convert") == 1 and kept.pop("stale") == ["graph: lab/folding.py changed"]
    assert kept == next(iter(before.values()))
    assert "lab/folding.py changed since this graph was converted; kept (LAB_KEEP_STALE=1)" in capsys.readouterr().out


def _trained_runs(monkeypatch, stale_lab=False):
    from lab import train

    monkeypatch.setattr(train, "run", lambda preset, **o: {
        "top1": 0.5 if o["binarizer"] == "sign" else 0.6, "top5": 0.9, "run_id": f"{o['model']}-{o['binarizer']}",
        **({"stale": ["lab/quantizers.py changed"]} if stale_lab and o["binarizer"] == "lab" else {})})


def test_tables_carry_the_deployment_shape_columns_and_their_ratios(graphs, preset, monkeypatch):
    from lab import provenance, tables, trained_graphs

    _trained_runs(monkeypatch)
    monkeypatch.setattr(trained_graphs, "write_graphs", lambda table, folder: None)  # no trained graphs here
    table = tables.table_a(preset=preset, models=["birealnet"]).set_index("binarizer")
    assert table.loc["lab", ["top1", "top5", "seeds", "top1_min", "top1_max", "run_ids"]].tolist() == [
        60.0, 90.0, 1, 60.0, 60.0, "birealnet-lab"]  # the trained runs' accuracy
    assert table.loc["lab", ["deploy_size_mb", "deploy_tflite_mb", "deploy_host_latency_ms"]].tolist() == [
        5.0, 10.0, 3.0]
    ours = table["deploy_host_latency_ms"]
    assert table["latency_ratio"].tolist() == [1.0, ours["lab"] / ours["sign"]]
    assert table.loc["lab", "size_ratio"] == table.loc["lab", "deploy_size_mb"] / table.loc["sign", "deploy_size_mb"]
    assert table.loc["lab", "paper_latency_ratio"] == pytest.approx(100.6 / 72.5)
    assert table.loc["lab", "paper_size_ratio"] == pytest.approx(4.65 / 4.18)
    folder = provenance.out_dir(preset, "table_lab_vs_sign")
    params = json.loads((folder / "table_a.provenance.json").read_text())["provenance"]["params"]
    assert params["deployment"]["shape"] == "224x224x3, width 1, 1000 classes"
    assert params["deployment"]["runs"] >= 20 and params["deployment"]["threads"] == 1
    assert "at the deployment shape** 224x224x3, width 1, 1000 classes" in (folder / "table_a.md").read_text()


def test_table_b_ratios_are_relative_to_mask_0000(graphs, preset, monkeypatch):
    from lab import tables, trained_graphs

    _trained_runs(monkeypatch)
    monkeypatch.setattr(trained_graphs, "write_graphs", lambda table, folder: None)
    table = tables.table_b(preset=preset, masks=["0000", "1011"]).set_index("mask")
    assert table["latency_ratio"].tolist() == [1.0, 1.5]
    assert table.loc["1011", "paper_latency_ratio"] == pytest.approx(75.3 / 54.6)
    assert table.loc["1011", "paper_size_ratio"] == pytest.approx(4.64 / 4.20)


def test_measure_averages_seeds_and_keeps_their_range(graphs, preset, monkeypatch):
    from lab import plans, tables, train

    top1 = {0: 0.5, 1: 0.7}
    monkeypatch.setattr(train, "run", lambda preset, **o: {"top1": top1[o["seed"]], "top5": 0.9,
                                                            "run_id": f"r{o['seed']}"})
    runs = [plans.Run("xnornet", "sign", seed=s) for s in (0, 1)]
    rows = tables.seed_rows(runs, preset)
    assert rows[["seed", "top1", "run_id", "deploy_host_latency_ms", "stale"]].values.tolist() == [
        [0, 50.0, "r0", 2.0, ""], [1, 70.0, "r1", 2.0, ""]]
    table = tables.measure(runs, preset)
    row = table.iloc[0]
    assert (row["top1"], row["top1_min"], row["top1_max"], row["seeds"]) == pytest.approx((60.0, 50.0, 70.0, 2))
    assert row["top1_sd"] == pytest.approx(20 / 2 ** 0.5)  # sample SD of 50 and 70
    assert row["run_ids"] == "r0 r1" and row["deploy_host_latency_ms"] == 2.0
    assert graphs.count("convert") == 1  # seeds share one graph


def _comparison_table(preset, monkeypatch, stale_run):
    """binarizers.md / .provenance.json of a sign-vs-LAB comparison whose LAB run is kept stale when ``stale_run``."""
    from lab import provenance, tables

    _trained_runs(monkeypatch, stale_lab=stale_run)
    table = tables.binarizer_comparison(preset=preset, binarizers=["sign", "lab"])
    folder = provenance.out_dir(preset, "binarizer_comparison")
    return table, (folder / "binarizers.md").read_text(), json.loads(
        (folder / "binarizers.provenance.json").read_text())["provenance"]["params"]


def test_a_table_built_from_stale_inputs_says_so(graphs, preset, monkeypatch):
    from lab import tables

    table, markdown, params = _comparison_table(preset, monkeypatch, stale_run=True)
    reasons = "run: lab/quantizers.py changed"
    assert table.set_index("binarizer")["stale"].to_dict() == {"sign": "", "lab": reasons}
    assert tables.STALE_NOTE in markdown and reasons in markdown
    assert params["stale"] == {"birealnet-lab": reasons}


def test_a_table_with_fresh_inputs_has_no_stale_note(graphs, preset, monkeypatch):
    table, markdown, params = _comparison_table(preset, monkeypatch, stale_run=False)
    assert "stale" not in table and "stale" not in markdown.lower() and "stale" not in params
    assert table.set_index("binarizer").loc["lab", "latency_ratio"] == 1.5


# --------------------------------------------------------------------------------------------- paired seeds, factorial
def _use_preset(monkeypatch, **changes):
    from lab import presets

    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, {**PRESET, **changes}))
    return "smoke"


def test_table_a_pairs_lab_and_sign_by_seed_beside_the_papers_difference(graphs, monkeypatch):
    import pandas as pd

    from lab import provenance, tables, train, trained_graphs

    preset = _use_preset(monkeypatch, seeds=[0, 1, 2], per_model={
        "birealnet": {"learning_rate": 0.0025, "why": "the short schedule needs a larger step"}})
    top1 = {"sign": [70.0, 72.0, 71.0], "lab": [72.0, 75.0, 72.0]}  # per seed: LAB - sign = 2, 3, 1
    monkeypatch.setattr(train, "run", lambda preset, **o: {"top1": top1[o["binarizer"]][o["seed"]] / 100,
                                                           "top5": 0.9, "run_id": f"r{o['seed']}"})
    monkeypatch.setattr(trained_graphs, "write_graphs", lambda table, folder: None)
    tables.table_a(preset=preset, models=["birealnet"])
    folder = provenance.out_dir(preset, "table_lab_vs_sign")
    (row,) = pd.read_csv(folder / "top1_paired.csv").to_dict("records")
    # differences 2, 3, 1: mean 2, sd 1, standard error 1/sqrt(3); t_{0.975, 2} = 4.303 (t table) -> +-2.48
    assert row == {"network": "Bi-Real Net", "seeds": 3, "sign top-1 %": 71.0, "LAB top-1 %": 73.0,
                   "LAB - sign": 2.0, "95 % CI low": pytest.approx(2 - 4.303 / 3 ** 0.5, abs=0.01),
                   "95 % CI high": pytest.approx(2 + 4.303 / 3 ** 0.5, abs=0.01),
                   "paper LAB - sign": pytest.approx(59.1 - 54.4)}
    deviation = ("**Deviations from the published recipe** (preset `smoke`): birealnet: learning_rate 0.0025 (the "
                 "short schedule needs a larger step).")
    assert deviation in (folder / "top1_paired.md").read_text() and deviation in (folder / "table_a.md").read_text()
    assert not (folder / "top1_summary.csv").exists()


def test_paired_table_pairs_only_the_seeds_both_binarizers_have():
    import pandas as pd

    from lab import table_stats

    rows = pd.DataFrame({"model": ["quicknet"] * 5, "binarizer": ["sign", "sign", "lab", "lab", "lab"],
                         "lab_blocks": [""] * 4 + ["1000"], "seed": [0, 1, 1, 2, 0],
                         "top1": [60.0, 61.0, 63.5, 99.0, 99.0]})
    (row,) = table_stats.paired_table(rows).to_dict("records")
    assert (row["seeds"], row["sign_top1"], row["lab_top1"], row["diff"]) == (1, 61.0, 63.5, 2.5)  # seed 1 only
    assert row["low"] != row["low"] and row["paper_diff"] == pytest.approx(62.5 - 58.7)  # NaN: one seed


STAGE_EFFECTS = (1.0, 2.0, -0.5, 0.0)  # points of top-1 that LAB in stage s adds in the stand-in runs


def _stand_in_ablation(monkeypatch):
    from lab import train, trained_graphs

    def run(preset, **o):
        mask = o.get("lab_blocks") or ("1111" if o["binarizer"] == "lab" else "0000")
        noise = 0.1 * ((int(mask, 2) * 7 + 3 * o["seed"]) % 5 - 2)  # deterministic, small, no pattern by stage
        return {"top1": (60 + sum(e for e, bit in zip(STAGE_EFFECTS, mask) if bit == "1") + noise) / 100,
                "top5": 0.9, "run_id": f"{mask}-{o['seed']}"}

    monkeypatch.setattr(train, "run", run)
    monkeypatch.setattr(trained_graphs, "write_graphs", lambda table, folder: None)


def _mean_difference(table, measure, stage):
    """A main effect by its definition: the mean over the masks with LAB in ``stage`` minus those without."""
    lab = table["mask"].str[stage - 1] == "1"
    return table.loc[lab, measure].mean() - table.loc[~lab, measure].mean()


@pytest.mark.parametrize("seeds, error, df", [([0], "interactions of order >= 3", 5), ([0, 1], "replicates", 16)])
def test_table_b_is_read_as_a_2x2x2x2_factorial_beside_the_papers(graphs, monkeypatch, seeds, error, df):
    import pandas as pd

    from lab import paper, provenance, table_charts, tables

    preset = _use_preset(monkeypatch, ablation_masks=list(paper.MASKS), seeds=seeds)
    _stand_in_ablation(monkeypatch)
    table = tables.table_b(preset=preset)
    effects = pd.read_csv(provenance.out_dir(preset, "ablation_lab_blocks") / "stage_effects.csv")
    assert len(effects) == 12 and set(effects["stage"]) == {1, 2, 3, 4}
    top1 = effects[effects["measure"] == "top1"].set_index("stage")
    assert top1["effect"].tolist() == pytest.approx([_mean_difference(table, "top1", s) for s in range(1, 5)],
                                                    abs=1e-3)
    assert top1["effect"].tolist() == pytest.approx(STAGE_EFFECTS, abs=0.15)
    assert set(top1["error"]) == {error} and set(top1["df"]) == {df}
    assert ((top1["low"] <= top1["effect"]) & (top1["effect"] <= top1["high"])).all()
    latency = effects[effects["measure"] == "deploy_host_latency_ms"].set_index("stage")
    assert latency["effect"].tolist() == pytest.approx(  # one graph per mask: never replicates
        [_mean_difference(table, "deploy_host_latency_ms", s) for s in range(1, 5)], abs=1e-3)
    assert set(latency["error"]) == {"interactions of order >= 3"}
    published = paper.table_b()
    for measure, theirs in (("top1", "top1"), ("deploy_host_latency_ms", "latency_ms"), ("deploy_size_mb", "size_mb")):
        rows = effects[effects["measure"] == measure].set_index("stage")
        assert rows["paper_effect"].tolist() == pytest.approx(
            [_mean_difference(published, theirs, s) for s in range(1, 5)], abs=1e-3)
        assert set(rows["paper_df"]) == {5}
    ours = tables.table_b_effects(preset=preset)
    assert ours["effect"].round(3).tolist() == effects["effect"].tolist()
    assert list(table_charts.stage_effects(ours)) == ["table_b_stage_effects"]


def test_stage_effects_need_all_16_masks(graphs, monkeypatch):
    import pandas as pd

    from lab import provenance, tables

    preset = _use_preset(monkeypatch)
    _stand_in_ablation(monkeypatch)
    tables.table_b(preset=preset, masks=["0000", "1011", "1111"])
    effects = pd.read_csv(provenance.out_dir(preset, "ablation_lab_blocks") / "stage_effects.csv")
    assert effects["effect"].isna().all() and set(effects["error"]) == {"needs all 16 stage masks, has 3"}
    assert effects["paper_effect"].notna().all()


def test_the_stage_effects_chart_puts_ours_beside_the_papers_intervals():
    import pandas as pd

    from lab import table_charts

    effects = pd.DataFrame({"stage": [1, 1], "measure": ["top1", "deploy_size_mb"], "effect": [1.0, 0.02],
                            "low": [0.5, 0.01], "high": [1.5, 0.03], "paper_effect": [2.1, 0.4],
                            "paper_low": [1.0, 0.3], "paper_high": [3.2, 0.5]})
    long = table_charts.effects_long(effects).set_index(["source", "measure"])
    assert long.loc[(table_charts.PAPER, "top-1 [points]"), ["effect", "low", "high"]].tolist() == [2.1, 1.0, 3.2]
    assert long.loc[(table_charts.OURS, "size [MB]"), "effect"] == 0.02
    spec = table_charts.stage_effects(effects)["table_b_stage_effects"].to_dict()
    marks = [layer["mark"]["type"] for layer in spec["spec"]["layer"]]
    assert marks == ["rule", "rule", "point"] and spec["resolve"]["scale"]["y"] == "independent"
