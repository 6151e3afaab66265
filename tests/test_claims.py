"""The verdict per claim (`lab.claims`): the verdict logic, each claim's row builder on synthetic data with
hand-computed answers, and the claims table built from real smoke-scale runs."""
import json
import math

import numpy as np
import pandas as pd
import pytest

T_975_3 = 3.182446  # t quantile 0.975 with 3 degrees of freedom (a t table)
NAN = float("nan")


# --------------------------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize("low, high, expected, null, outcome", [
    (0.5, 2.0, 1, 0.0, "supported"),
    (-2.0, -0.5, 1, 0.0, "contradicted"),
    (-1.0, 1.0, 1, 0.0, "inconclusive"),
    (-2.0, -0.5, -1, 0.0, "supported"),  # the paper says smaller
    (0.5, 2.0, -1, 0.0, "contradicted"),
    (0.0, 2.0, 1, 0.0, "inconclusive"),  # touching 0 does not exclude it
    (NAN, NAN, 1, 0.0, "inconclusive"),  # one seed: no interval
    (0.5, NAN, 1, 0.0, "inconclusive"),
    (1.1, 1.5, 1, 1.0, "supported"),  # a ratio: compared with 1
    (0.8, 0.95, 1, 1.0, "contradicted"),
    (0.9, 1.2, 1, 1.0, "inconclusive"),
    (0.5, 0.9, 1, 0.0, "supported"),  # ... which a difference would not be
])
def test_verdict_says_where_the_interval_lies_against_the_paper(low, high, expected, null, outcome):
    from lab.claims import verdict

    assert verdict(low, high, expected, null=null) == outcome


@pytest.mark.parametrize("args, match", [
    ((0.1, 0.2, 0), "expected_sign: must be"),
    ((0.1, 0.2, "+"), "expected_sign: must be"),
    ((0.1, 0.2, True), "expected_sign: must be"),
    ((0.3, 0.2, 1), "low: must be <= high"),
])
def test_verdict_rejects_bad_input(args, match):
    from lab.claims import verdict

    with pytest.raises(ValueError, match=match):
        verdict(*args)


# --------------------------------------------------------------------------------------------- the claims
def _seed_rows(configs):
    """Seed rows as `lab.tables.seed_rows` gives them: ``{(model, binarizer): [top1 per seed]}``."""
    return pd.DataFrame([{"model": m, "binarizer": b, "lab_blocks": "", "seed": seed, "top1": top1,
                          "deploy_size_mb": 5.0} for (m, b), values in configs.items()
                         for seed, top1 in enumerate(values)])


def test_lab_vs_sign_is_the_paired_difference_per_network():
    from lab.claims import COLUMNS, lab_vs_sign_rows

    sign = [70.0, 71.0, 72.0, 73.0]
    rows = _seed_rows({("birealnet", "sign"): sign, ("birealnet", "lab"): [s + d for s, d in zip(sign, [2, 3, 2, 3])],
                       ("xnornet", "sign"): [60.0, 61.0, 60.5, 61.5], ("xnornet", "lab"): [50.0, 49.0, 51.0, 50.0],
                       ("quicknet", "sign"): [65.0, 66.0, 65.0, 66.0]})  # no LAB run: no row
    out = pd.DataFrame(lab_vs_sign_rows(rows), columns=COLUMNS).set_index("claim")
    assert list(out.index) == ["LAB beats sign on XNOR-Net", "LAB beats sign on Bi-Real Net"]  # the paper's order
    bireal = out.loc["LAB beats sign on Bi-Real Net"]
    # differences 2, 3, 2, 3: mean 2.5, sd 0.57735, interval 2.5 -+ t * sd / 2
    half = T_975_3 * 0.5773503 / 2
    assert (bireal["ours"], bireal["low"], bireal["high"]) == pytest.approx((2.5, 2.5 - half, 2.5 + half), abs=6e-3)
    assert bireal["paper"] == pytest.approx(59.1 - 54.4) and bireal["n"] == 4 and bireal["verdict"] == "supported"
    xnor = out.loc["LAB beats sign on XNOR-Net"]
    assert xnor["ours"] == pytest.approx(-10.75, abs=0.06) and xnor["verdict"] == "contradicted"
    assert xnor["paper"] == pytest.approx(2.5)


def test_one_seed_gives_the_difference_without_an_interval():
    from lab.claims import lab_vs_sign_rows

    (row,) = lab_vs_sign_rows(_seed_rows({("birealnet", "sign"): [70.0], ("birealnet", "lab"): [72.0]}))
    assert row["ours"] == 2.0 and math.isnan(row["low"]) and row["n"] == 1 and row["verdict"] == "inconclusive"


def test_stage_rows_carry_the_factorial_effects_and_their_verdicts():
    from lab.claims import stage_rows

    effects = pd.DataFrame({"stage": [2, 1, 1], "measure": ["top1", "top1", "deploy_size_mb"],
                            "effect": [-1.5, 2.0, 0.3], "low": [-2.5, 1.0, 0.2], "high": [-0.5, 3.0, 0.4],
                            "df": [16] * 3, "error": ["replicates"] * 3, "paper_effect": [1.2, 1.9, 0.4]})
    rows = stage_rows(effects, runs=32)
    assert [(r["claim"], r["ours"], r["paper"], r["n"], r["verdict"]) for r in rows] == [
        ("LAB in stage 1 helps (Table B)", 2.0, 1.9, 32, "supported"),
        ("LAB in stage 2 helps (Table B)", -1.5, 1.2, 32, "contradicted")]
    assert "error: replicates" in rows[0]["how"]


def _table_b_rows(effects, seeds=(0, 1)):
    """Seed rows of all 16 masks of Bi-Real Net with top-1 = 50 + the stages' ``effects`` + noise (sd 0.1)."""
    noise = iter(np.random.default_rng(0).normal(0.0, 0.1, 16 * len(seeds)))
    rows = []
    for mask in (f"{i:04b}" for i in range(16)):
        binarizer = "sign" if mask == "0000" else "lab"
        blocks = "" if mask in ("0000", "1111") else mask
        for seed in seeds:
            top1 = 50 + sum(e for e, bit in zip(effects, mask) if bit == "1") + next(noise)
            rows.append({"model": "birealnet", "binarizer": binarizer, "lab_blocks": blocks, "seed": seed,
                         "top1": top1, "deploy_host_latency_ms": 1.0 + mask.count("1"), "deploy_size_mb": 4.0})
    return pd.DataFrame(rows)


def _paper_main_effects():
    """The paper's main effect of LAB per stage: mean top-1 of the 8 masks with LAB there - the 8 without."""
    from lab import paper

    published = paper.table_b()
    return [published[published["mask"].str[s] == "1"]["top1"].mean()
            - published[published["mask"].str[s] == "0"]["top1"].mean() for s in range(4)]


def test_stage_claims_from_a_factorial_with_known_effects_beside_the_papers():
    from lab import table_stats
    from lab.claims import stage_rows

    rows = _table_b_rows([2.0, 1.0, -0.5, 0.0])
    out = stage_rows(table_stats.stage_effects(rows), runs=len(rows))
    assert [r["ours"] for r in out] == pytest.approx([2.0, 1.0, -0.5, 0.0], abs=0.15)
    assert [r["verdict"] for r in out][:3] == ["supported", "supported", "contradicted"]
    assert [r["paper"] for r in out] == pytest.approx(_paper_main_effects(), abs=0.01)
    assert all(r["n"] == 32 for r in out)


def test_stage_claims_without_all_masks_are_inconclusive():
    from lab import table_stats
    from lab.claims import stage_rows

    rows = _table_b_rows([2.0, 1.0, -0.5, 0.0])
    rows = rows[rows["lab_blocks"].isin(["", "1000"])]
    out = stage_rows(table_stats.stage_effects(rows), runs=len(rows))
    assert [r["verdict"] for r in out] == ["inconclusive"] * 4 and all(r["n"] == 0 for r in out)
    assert "needs all 16 stage masks" in out[0]["how"] and [r["paper"] for r in out] == pytest.approx(
        _paper_main_effects(), abs=0.01)


def test_accuracy_per_mb_compares_labbnn_with_the_best_other_network():
    from lab.claims import accuracy_per_mb_rows

    rows = _seed_rows({("labbnn", "lab"): [60.0, 62.0, 61.0], ("birealnet", "sign"): [50.0, 52.0, 54.0],
                       ("birealnet", "lab"): [56.0, 57.0, 58.0]})
    rows.loc[rows["model"] == "labbnn", "deploy_size_mb"] = 4.0  # 15, 15.5, 15.25 per MB; Bi-Real LAB: 11.2-11.6
    (row,) = accuracy_per_mb_rows(rows)
    assert row["claim"] == "LAB-BNN has the best accuracy per MB"
    assert "(ours: Bi-Real Net LAB; paper: QuickNet sign)" in row["measure"]
    assert row["ours"] == pytest.approx(np.mean([15 - 11.2, 15.5 - 11.4, 15.25 - 11.6]), abs=1e-2)
    assert row["paper"] == pytest.approx(62.4 / 4.62 - 58.7 / 4.35, abs=1e-4)
    assert row["n"] == 3 and row["verdict"] == "supported"


def test_uniqueness_is_the_layer_mean_paired_by_seed():
    from lab.claims import uniqueness_rows

    layers = {"sign": [[0.10, 0.20], [0.12, 0.22], [0.11, 0.19]], "lab": [[0.30, 0.40], [0.28, 0.42], [0.35, 0.39]]}
    table = pd.DataFrame([{"seed": seed, "binarizer": b, "index": i + 1, "layer": f"conv{i}", "channels": 8,
                           "mean_distance": value, "other": -value}
                          for b, seeds in layers.items() for seed, values in enumerate(seeds)
                          for i, value in enumerate(values)])
    (row,) = uniqueness_rows(table, "mean_distance")
    # per seed: lab 0.35, 0.35, 0.37; sign 0.15, 0.17, 0.15 -> differences 0.20, 0.18, 0.22
    assert row["ours"] == pytest.approx(0.2) and row["paper"] == "Fig. 1" and row["verdict"] == "supported"
    assert "(2 layers' mean)" in row["measure"]
    assert uniqueness_rows(table, "other")[0]["verdict"] == "contradicted"  # larger is more unique


def test_latency_cost_is_the_interleaved_ratio_against_one():
    from lab.claims import latency_rows
    from lab.deployment import Graph

    sign = np.array([10.0, 11.0, 9.0, 10.0])
    ratios = np.array([1.4, 1.5, 1.6, 1.5])
    samples = {Graph("birealnet", "sign"): sign, Graph("birealnet", "lab"): sign * ratios,
               Graph("xnornet", "sign"): sign, Graph("xnornet", "lab"): sign * ratios[::-1] / 1.5,
               Graph("quicknet", "sign"): sign}
    rows = {r["claim"]: r for r in latency_rows(samples)}
    assert list(rows) == ["LAB costs latency on XNOR-Net", "LAB costs latency on Bi-Real Net"]
    bireal = rows["LAB costs latency on Bi-Real Net"]
    logs = np.log(ratios)
    half = T_975_3 * logs.std(ddof=1) / 2
    assert (bireal["ours"], bireal["low"], bireal["high"]) == pytest.approx(
        (np.exp(logs.mean()), np.exp(logs.mean() - half), np.exp(logs.mean() + half)), abs=6e-3)
    assert bireal["paper"] == pytest.approx(100.6 / 72.5, rel=5e-3) and bireal["verdict"] == "supported"
    assert rows["LAB costs latency on XNOR-Net"]["verdict"] == "inconclusive"  # ratios around 1
    samples[Graph("xnornet", "lab")] = sign[:3]  # timed in another session: no pairs
    unpaired = latency_rows(samples)[0]
    assert math.isnan(unpaired["ours"]) and unpaired["verdict"] == "inconclusive" and "re-time" in unpaired["how"]


def test_readable_puts_the_interval_in_words():
    from lab.claims import readable

    table = pd.DataFrame({"claim": ["a", "b"], "measure": ["m", "m"], "paper": [4.7, "Fig. 1"], "ours": [2.5, 0.2],
                          "low": [1.58, NAN], "high": [3.42, NAN], "n": [4, 1],
                          "verdict": ["supported", "inconclusive"], "how": ["t", "t"]})
    view = readable(table)
    assert view["95% interval"].tolist() == ["1.58 to 3.42", "n/a"]
    assert view["paper"].tolist() == ["4.7", "Fig. 1"] and view["ours"].tolist() == ["2.5", "0.2"]


def test_the_claims_notebook_plans_every_run_the_claims_use(monkeypatch):
    from lab import plans, presets

    config = {"train": {"dataset": "digits", "seed": 0}, "models": ["xnornet", "birealnet"],
              "ablation_masks": ["0000", "1111", "1000"], "seeds": [0, 1]}
    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, config))
    runs = plans.RUNS_OF["claims"]("smoke")
    assert len(runs) == len(set(runs))
    for planner in (plans.table_a_runs, plans.table_b_runs, plans.labbnn_runs, plans.binarization_runs):
        assert set(planner("smoke")) <= set(runs)


# --------------------------------------------------------------------------------------------- smoke scale
SMOKE = {"train": {"dataset": "digits", "image_size": 32, "width": 0.0625, "epochs": 1, "batch_size": 64,
                   "steps_per_epoch": 4, "validation_examples": 64, "deterministic": True, "run_eagerly": True,
                   "seed": 0},
         "models": ["birealnet", "labbnn"], "ablation_model": "birealnet", "ablation_masks": ["0000", "1111"],
         "seeds": [0],
         "deployment_shape": {"input_shape": [32, 32, 3], "width": 0.0625, "num_classes": 10}}


@pytest.mark.timeout(240)
def test_the_claims_table_at_smoke_scale(results_root, monkeypatch):
    """Real runs (three tiny trainings), graphs, latencies and uniqueness: every claim has its row and a verdict,
    written to results/<preset>/claims.{csv,md} with provenance."""
    from lab import claims, presets

    monkeypatch.setattr(presets, "load", lambda name: presets.parse(name, SMOKE))
    table = claims.claims_table(preset="smoke")
    assert list(table) == claims.COLUMNS and set(table["verdict"]) <= set(claims.VERDICTS)
    assert table["claim"].tolist()[:5] == ["LAB beats sign on Bi-Real Net"] + [
        f"LAB in stage {s} helps (Table B)" for s in (1, 2, 3, 4)]
    assert table["claim"].tolist()[5:] == ["LAB-BNN has the best accuracy per MB",
                                           "LAB's binary channels are more unique than sign's",
                                           "LAB costs latency on Bi-Real Net"]
    one_seed = table[table["claim"] != "LAB costs latency on Bi-Real Net"]
    assert (one_seed["verdict"] == "inconclusive").all()  # one seed, Table B incomplete
    latency = table.iloc[-1]
    assert latency["n"] >= 20 and latency["low"] <= latency["ours"] <= latency["high"]
    folder = results_root / "smoke"
    assert {p.name for p in folder.glob("claims*")} == {"claims.csv", "claims.md", "claims.provenance.json"}
    markdown = (folder / "claims.md").read_text()
    assert markdown.startswith("Claims of the paper, decided by our data — ours: preset smoke, digits, 32x32 px")
    assert "ImageNet" in markdown and "Jetson Xavier NX" in markdown and "| verdict" in markdown
    params = json.loads((folder / "claims.provenance.json").read_text())["provenance"]["params"]
    assert params == {"preset": "smoke", "confidence": 0.95}
    assert pd.read_csv(folder / "claims.csv")["claim"].tolist() == table["claim"].tolist()
