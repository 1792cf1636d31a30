"""The report's paired comparisons: a cell against its table's baseline from the runs' ratios.json
(Markdown mark, CSV ``_delta``/``_p``, the Δ list), and the verdict of each seed ordering."""

from __future__ import annotations

import csv
import json

import numpy as np

from workbench.metrics.intervals import Difference, Interval, UtteranceRatios
from workbench.reporting.results import cs_nmg_from_files
from workbench.reporting.significance import Ordering, Pairing, orderings_table
from workbench.reporting.table import SIGNIFICANT, Column, Estimate, Table, Versus

UTTERANCES = 200


def _write_run(root, variant, pair, errors, tokens=10):
    """A cs_nmg eval run of ``UTTERANCES`` utterances: metrics.json with intervals, and ratios.json."""
    out = root / variant / pair / "eval"
    out.mkdir(parents=True)
    ids = [f"u{i:03d}" for i in range(UTTERANCES)]
    ratios = UtteranceRatios(tuple(ids), {name: (np.asarray(errors), np.full(UTTERANCES, tokens))
                                          for name in ("mer", "pier")})
    metrics = {"variant": variant, "pair": pair}
    for name, interval in ratios.intervals().items():
        metrics.update({name: interval.value, f"{name}_ci_lo": interval.lo, f"{name}_ci_hi": interval.hi})
    (out / "metrics.json").write_text(json.dumps(metrics))
    (out / "ratios.json").write_text(json.dumps(ratios.to_json()))


def _experiments(root):
    root.mkdir()
    for name, label, table, row in (("baseline", "seed model", 0, 0), ("ce", "CE", 2, 1), ("wce", "WCE", 2, 2),
                                    ("mwer", "MWER", 2, 3)):
        (root / f"{name}.yaml").write_text(f"name: {name}\nlabel: {label}\ntable: {table}\nrow: {row}\n"
                                           + ("losses: {ce: 1.0}\n" if name != "baseline" else ""))
    return root


def test_rows_are_compared_with_the_seed_model_and_orderings_read(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.binomial(10, 0.3, UTTERANCES)
    _write_run(tmp_path / "r", "baseline", "cmn_eng", base)
    _write_run(tmp_path / "r", "ce", "cmn_eng", np.maximum(base - rng.binomial(1, 0.8, UTTERANCES), 0))  # planted
    _write_run(tmp_path / "r", "wce", "cmn_eng", base)  # identical to the seed model: Δ = 0
    # mwer has no ratios.json: its cells keep their intervals, without Δ
    _write_run(tmp_path / "r", "mwer", "cmn_eng", base)
    (tmp_path / "r" / "mwer" / "cmn_eng" / "eval" / "ratios.json").unlink()
    tables = cs_nmg_from_files(tmp_path / "r", _experiments(tmp_path / "x"), tmp_path / "nm")
    table2 = next(t for t in tables if t.slug == "seed003_table2")
    rows = {row[0]: row for row in table2.rows}
    ce, wce, mwer = rows["CE"][2], rows["WCE"][2], rows["MWER"][2]  # cmn_eng PIER
    assert isinstance(ce, Estimate) and ce.versus.significant and ce.versus.delta < 0
    assert ce.versus.lo <= ce.versus.delta <= ce.versus.hi and ce.versus.baseline == "seed model"
    assert wce.versus.delta == 0 and wce.versus.p == 1 and not wce.versus.significant
    assert mwer.versus is None and mwer.has_interval
    assert rows["seed model"][2].versus is None  # the baseline row itself
    grid = table2.to_markdown()
    assert f"] {SIGNIFICANT} |" in grid.splitlines()[4 + list(rows).index("CE")]
    assert "differs from its baseline (seed model)" in grid
    header, *lines = list(csv.reader(table2.to_csv().splitlines()))
    assert header[:8] == ["method", "cmn_eng MER", "cmn_eng MER_lo", "cmn_eng MER_hi", "cmn_eng MER_delta",
                          "cmn_eng MER_p", "cmn_eng PIER", "cmn_eng PIER_lo"]
    assert float(lines[[r[0] for r in lines].index("CE")][header.index("cmn_eng PIER_p")]) < 0.05
    deltas = table2.deltas()
    assert deltas.slug == "seed003_table2_deltas"
    assert any(r[0] == "CE" and r[1] == "cmn_eng PIER" and r[-1].endswith(SIGNIFICANT) for r in deltas.rows)
    orderings = {row[0]: row for row in next(t for t in tables if t.slug == "seed003_orderings").rows}
    assert orderings["LoRA CE fine-tuning lowers PIER below the seed model (cmn_eng)"][-1] == "holds, significant"
    assert orderings["WCE lowers PIER below CE (cmn_eng)"][-1] == "reversed, significant"
    assert orderings["MWER lowers PIER below CE (cmn_eng)"][-1] == "no paired runs"
    assert orderings["WCE lowers PIER below CE (vie_eng)"][-1] == "no paired runs"


def _difference(delta, p):
    return Difference(Interval(0.2, 0.1, 0.3), Interval(0.2 + delta, 0.1, 0.3), delta, delta - 0.01, delta + 0.01, p)


def test_ordering_verdicts():
    def verdict(delta, p, better="lower"):
        return Ordering("c", "A", "B", better, _difference(delta, p)).verdict()

    assert verdict(-0.05, 0.01) == "holds, significant"
    assert verdict(-0.05, 0.2) == "holds, not significant"
    assert verdict(0.05, 0.01) == "reversed, significant"
    assert verdict(0.05, 0.01, "higher") == "holds, significant"
    assert verdict(0.0, 1.0) == "no difference"
    assert Ordering("c", "A", "B", "lower", None).verdict() == "no paired runs"
    table = orderings_table("o", "O", [Ordering("c", "A", "B", "lower", _difference(-0.05, 0.01))])
    assert table.rows[0][3:] == ["20.00", "15.00", "-5.00 [-6.00, -4.00]", f"0.010 {SIGNIFICANT}",
                                 "holds, significant"]


def test_pairing_skips_runs_over_other_items():
    a = UtteranceRatios(("u1", "u2"), {"wer": (np.array([1, 0]), np.array([2, 2]))})
    b = UtteranceRatios(("v1", "v2"), {"wer": (np.array([1, 0]), np.array([2, 2]))})
    runs = {"a": a, "b": b}
    pairing = Pairing(lambda run: runs[run.name])

    class Run:
        def __init__(self, name):
            self.name = name

        def metric(self, name):
            return 0.25 if name == "wer" else None

    ra, rb = Run("a"), Run("b")
    assert pairing.difference((ra, "wer"), (rb, "wer")) is None  # other test sets: no Δ, never an error
    assert pairing.cell(rb, "wer", ("A", ra, "wer")) == 0.25
    assert pairing.difference((ra, "wer"), (ra, "missing")) is None


def test_deltas_table_and_no_marks_without_versus():
    plain = Table("t", "T", [Column("name", "text"), Column("WER")], [["a", Estimate(0.1, 0.05, 0.15)]])
    assert plain.deltas() is None and SIGNIFICANT not in plain.to_markdown()
    versus = Versus("base", 0.2, -0.1, -0.15, -0.05, 0.002)
    marked = Table("t", "T", [Column("name", "text"), Column("WER")], [["a", Estimate(0.1, 0.05, 0.15, versus)]])
    assert f"| a | 10.00 [5.00, 15.00] {SIGNIFICANT} |" in marked.grid()
    assert marked.deltas().rows == [["a", "WER", "base", "20.00", "10.00", "-10.00 [-15.00, -5.00]",
                                     f"0.002 {SIGNIFICANT}"]]
