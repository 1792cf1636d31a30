"""Each study of the workbench as its seed prints it, read from MLflow runs.

A study turns the newest finished runs of its stages into tables and plot data. The rows a study
expects come from the experiment YAMLs when their directory is given (so a run that has not been
done shows as a row of gaps), plus any other variant found in the store. Metrics are read by the
names the stages log; nested results (vocabulary sizes) from the run's ``metrics.json`` artifact.

Studies: baseline evaluation; seed 003 Tables 2-3 (``eval_asr``/``nearmiss``); seed 000 Table 1,
seed 001 Tables 1-2, seed 002 retrieval (``eval_retrieval``); seed 000 Table 3 and seed 001
Tables 3-4 (``eval_contextual``); seed 004's S1/S2 replay (``s1s2_replay``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workbench.reporting.runs import RunRecord, RunStore
from workbench.reporting.significance import Pairing, Results, estimate, orderings_table
from workbench.reporting.table import Column, Estimate, Table, raw

TEXT = "text"
NO_PAIRING = Pairing(lambda run: None)  # tables without ratios: intervals only, no Δ


@dataclass(frozen=True)
class PlotData:
    """What a figure shows: named series of (x, y) points; y None is a gap (not drawn)."""

    slug: str
    title: str
    kind: str  # "lines" (x numeric) or "bars" (x categorical)
    x_label: str
    y_label: str
    # panel -> series -> points (x, y) or (x, y, lo, hi): an error bar from lo to hi
    panels: dict[str, dict[str, list[tuple]]] = field(default_factory=dict)
    references: dict[str, dict[str, float]] = field(default_factory=dict)  # panel -> label -> horizontal line

    def has_data(self) -> bool:
        return any(y is not None for series in self.panels.values() for points in series.values()
                   for _, y, *_ in points)


@dataclass(frozen=True)
class StudyReport:
    name: str
    title: str
    tables: list[Table]
    plots: list[PlotData] = field(default_factory=list)
    runs: int = 0  # MLflow runs behind the study


# --------------------------------------------------------------------------- baseline evaluation

BASELINE_METRICS = (("WER", "wer"), ("CER", "cer"), ("MER", "mer"), ("PIER", "pier"), ("B-WER", "b_wer"),
                    ("U-WER", "u_wer"), ("U-CER", "u_cer"), ("KER", "ker"), ("SACC", "sacc"))


def baseline_table(named: Sequence[tuple[str, Results]]) -> Table:
    """One row per (test set name, its evaluate results)."""
    columns = [Column("test set", TEXT), Column("utterances", "count")] + [Column(n) for n, _ in BASELINE_METRICS] \
        + [Column("s/utt", "number")]
    rows = [[name, run.metric("utterances"), *(estimate(run, k) for _, k in BASELINE_METRICS),
             run.metric("seconds_per_utterance")]
            for name, run in named]
    return Table("baseline", "Baseline: Whisper base, no biasing (per test set, %)", columns, rows,
                 "WER counts whitespace-separated words (meaningless for unspaced Mandarin); MER counts CJK characters "
                 "one token each. PIER: a gap where the test set has no embedded-language POI.")


def baseline_study(store: RunStore, experiments: Path | None = None) -> StudyReport:
    runs = store.latest_by("manifest", stage="evaluate")
    named = [(run.params.get("name") or Path(manifest).parent.name, run) for manifest, run in sorted(runs.items())]
    bars = PlotData("baseline_wer_pier", "Baseline: WER and PIER per test set", "bars", "test set", "%",
                    {"": {label: [_point(name, estimate(run, key)) for name, run in named]
                          for label, key in (("WER", "wer"), ("MER", "mer"), ("PIER", "pier"))}})
    return StudyReport("baseline", "Baseline evaluation", [baseline_table(named)], [bars], len(runs))


# --------------------------------------------------------------------------- seed 003: CS-NMG

CS_PAIRS = ("cmn_eng", "vie_eng")


@dataclass(frozen=True)
class Row:
    """A variant as a table row: its name, the label the seed prints, table and position."""

    name: str
    label: str
    table: str
    row: int
    extra: dict = field(default_factory=dict)


def rows_from_yaml(directory: Path | None, loader: Callable, extra: Callable = lambda e: {}) -> list[Row]:
    """The rows the experiment YAMLs of ``directory`` expect (file order; the tables sort them)."""
    if directory is None or not directory.is_dir():
        return []
    rows = []
    for path in sorted(directory.glob("*.yaml")):
        experiment = loader(path)
        rows.append(Row(experiment.name, experiment.label or experiment.name, str(experiment.table), experiment.row,
                        extra(experiment)))
    return rows


def _rows_from_runs(runs: Sequence[RunRecord], known: list[Row], extra: Callable[[RunRecord], dict]) -> list[Row]:
    """Variants found in the store but not in the YAMLs (a user's own experiments) are rows too,
    labelled from the experiment their run logged."""
    names = {r.name for r in known}
    found = {}
    for run in runs:
        variant = run.tags.get("variant")
        if variant and variant not in names and variant not in found:
            found[variant] = Row(variant, run.params.get("experiment.label") or run.tags.get("label") or variant,
                                 run.params.get("experiment.table") or run.tags.get("table") or "",
                                 int(run.params.get("experiment.row") or 99), extra(run))
    return known + list(found.values())


def cs_nmg_rows(experiments: Path | None) -> list[Row]:
    """Seed 003's variants from experiments/cs_nmg (the gate of each row's near-misses in ``extra``)."""
    from workbench.training.experiment import load_experiment

    return rows_from_yaml(experiments, load_experiment, lambda e: {"gate": e.negatives.gate})


# Seed 003's orderings (Tables 2-3, on PIER): (claim, A, B), B reported better (lower) than A
CS_NMG_ORDERINGS = (
    ("LoRA CE fine-tuning lowers PIER below the seed model", "baseline", "ce"),
    ("WCE lowers PIER below CE", "ce", "wce"),
    ("MWER lowers PIER below CE", "ce", "mwer"),
    ("CE + CL (N-best NMs) lowers PIER below CE", "ce", "ce_cl_nbest"),
    ("WCE + CL (N-best) lowers PIER below CE + CL (N-best)", "ce_cl_nbest", "wce_cl_nbest"),
    ("the full method (WCE + CL, tri-level) lowers PIER below MWER", "mwer", "wce_cl_trilevel"),
    ("the tri-level gate lowers PIER below no gate (N-best + LLM)", "t3_gate_none", "wce_cl_trilevel"),
    ("the tri-level gate lowers PIER below the acoustic gate alone", "t3_gate_acoustic", "wce_cl_trilevel"),
)


def cs_nmg_tables(rows: Sequence[Row], pairs: Sequence[str], evals: Mapping[tuple[str, str], Results],
                  nm_per_utt: Callable[[str, str | None], float | None], pairing: Pairing = NO_PAIRING) -> list[Table]:
    """Seed 003 Tables 2 and 3: MER and PIER per (variant, pair) from ``evals``; Table 3 adds the
    near-misses per utterance that the row's gate keeps (``nm_per_utt(pair, gate)``). Table 2's
    cells are compared with the seed model's, Table 3's with the full method's (``pairing``), and
    the seed's orderings are read off the same runs."""
    rows = sorted(rows, key=lambda r: (int(r.table or 0), r.row, r.name))
    labels = {r.name: r.label for r in rows}
    tables = []
    for number, title, reference in (
            (2, "Seed 003 Table 2: training objectives (MER and PIER per language pair, %)", "baseline"),
            (3, "Seed 003 Table 3: near-miss sources and gates, WCE + CL (MER, PIER %, NM/utt)", "wce_cl_trilevel")):
        members = [r for r in rows if r.table in (("0", "2") if number == 2 else ("3",))]
        if number == 3:  # the full method is both tables' reference row
            members = [r for r in rows if r.name == "wce_cl_trilevel"] + members
        columns = [Column("method", TEXT)]
        for pair in pairs:
            columns += [Column(f"{pair} MER"), Column(f"{pair} PIER")] + (
                [Column(f"{pair} NM/utt", "number")] if number == 3 else [])
        body = []
        for row in members:
            cells: list = [row.label]
            for pair in pairs:
                run, base = evals.get((row.name, pair)), evals.get((reference, pair))
                cells += [pairing.cell(run, metric, (labels.get(reference, reference), base, metric))
                          for metric in ("mer", "pier")]
                if number == 3:
                    cells.append(nm_per_utt(pair, row.extra.get("gate")))
            body.append(cells)
        note = ("MER: WER over mixed tokens (CJK characters one token each). NM/utt: near-misses per utterance that "
                "the row's gate keeps (nearmiss stage)." if number == 3 else
                "MER: WER over mixed tokens (CJK characters one token each); for Vietnamese-English it equals WER.")
        tables.append(Table(f"seed003_table{number}", title, columns, body, note))
    orderings = [pairing.ordering(f"{claim} ({pair})", (labels.get(a, a), evals.get((a, pair)), "pier"),
                                  (labels.get(b, b), evals.get((b, pair)), "pier"), "lower")
                 for pair in pairs for claim, a, b in CS_NMG_ORDERINGS]
    tables.append(orderings_table("seed003_orderings", "Seed 003: do the seed's orderings hold on our runs? (PIER)",
                                  orderings))
    return tables


def cs_nmg_study(store: RunStore, experiments: Path | None = None) -> StudyReport:
    runs = store.latest_by(("variant", "pair"), stage="eval_asr")
    rows = _rows_from_runs(list(runs.values()), cs_nmg_rows(experiments / "cs_nmg" if experiments else None),
                           lambda run: {"gate": run.params.get("experiment.negatives.gate")})
    rows.sort(key=lambda r: (int(r.table or 0), r.row, r.name))
    nearmiss = {Path(manifest).parent.name: run
                for manifest, run in store.latest_by("manifest", stage="nearmiss").items()}
    pairs = list(CS_PAIRS) + sorted({pair for _, pair in runs} - set(CS_PAIRS))  # a converted corpus is a column too

    def nm_per_utt(pair: str, gate: str | None):
        run = nearmiss.get(pair)
        return None if run is None or not gate else run.metric(f"nm_per_utt_{gate.replace('+', '_')}")

    bars = PlotData("cs_nmg_mer_pier", "Seed 003: MER and PIER per variant", "bars", "variant", "%",
                    {pair: {metric.upper(): [_point(r.name, estimate(runs.get((r.name, pair)), metric))
                                             for r in rows] for metric in ("mer", "pier")} for pair in pairs})
    return StudyReport("cs_nmg", "Seed 003: code-switching near-miss generation (Whisper + LoRA)",
                       cs_nmg_tables(rows, pairs, runs, nm_per_utt, Pairing(store.ratios)), [bars],
                       len(runs) + len(nearmiss))


# --------------------------------------------------------------------------- retrieval (seeds 000, 001, 002)

def retrieval_rows(experiments: Path | None) -> list[Row]:
    """The retrievers of experiments/retrieval (method and RADA flag in ``extra``)."""
    from workbench.retrieval.experiment import load_retriever_experiment

    return rows_from_yaml(experiments, load_retriever_experiment, lambda e: {"method": e.method, "rada": e.rada})


# The seeds' retrieval orderings: (claim, setting/scorer/metric of A and B by variant), B reported better
RETRIEVAL_ORDERINGS = (
    ("seed 001: RADA raises GLCLAP's substring R@1", ("glclap_base", "learned"), ("glclap_rada", "learned"),
     "substring@1_recall"),
    ("seed 001: fuzzy matching raises GLCLAP + RADA's substring R@1", ("glclap_rada", "learned"),
     ("glclap_fuzzy", "learned"), "substring@1_recall"),
    ("seed 000: local window scoring raises CLAR's exact R@1", ("clar_global", "learned"), ("clar_local", "learned"),
     "exact@1_recall"),
    ("seed 000: CIF alignment raises CLAR's exact R@1", ("clar_local", "learned"), ("clar_full", "learned"),
     "exact@1_recall"),
    ("seed 002: the VQ adaptor raises CLSR's exact R@1", ("clsr_novq", "learned"), ("clsr", "learned"),
     "exact@1_recall"),
    ("the phoneme text tower beats MiniLM (GLCLAP + fuzzy, exact R@1)", ("glclap_minilm", "learned"),
     ("glclap_fuzzy", "learned"), "exact@1_recall"),
    ("the phoneme text tower beats MiniLM (CLAR full, exact R@1)", ("clar_minilm", "learned"),
     ("clar_full", "learned"), "exact@1_recall"),
    ("GLCLAP + RADA beats the phonetic baseline (exact R@1)", ("glclap_rada", "phonetic"), ("glclap_rada", "learned"),
     "exact@1_recall"),
    ("fusion with GLCLAP + RADA beats the phonetic baseline (exact R@1)", ("glclap_rada", "phonetic"),
     ("glclap_rada", "fused"), "exact@1_recall"),
    ("fusion with CLAR (+local) beats the phonetic baseline (exact R@1)", ("clar_local", "phonetic"),
     ("clar_local", "fused"), "exact@1_recall"),
    ("fusion with CLAR (full) beats the phonetic baseline (exact R@1)", ("clar_full", "phonetic"),
     ("clar_full", "fused"), "exact@1_recall"),
    ("CLAR (full) beats the phonetic baseline (exact R@1)", ("clar_full", "phonetic"), ("clar_full", "learned"),
     "exact@1_recall"),
    ("CLSR beats the phonetic baseline (exact R@1)", ("clsr", "phonetic"), ("clsr", "learned"), "exact@1_recall"),
)


def retrieval_tables(rows: Sequence[Row], evals: Mapping[str, Results], sizes: Mapping[str, Mapping[str, int]],
                     vocabulary: str = "lists", pairing: Pairing = NO_PAIRING,
                     curves: Mapping[str, Mapping] | None = None) -> list[Table]:
    """Seed 000 Table 1, seed 001 Tables 1-2, seed 002 (CLSR), the scale sweep, the long-form
    table and the data-scale curve from each variant's eval_retrieval results (``evals``, the
    phonetic baseline as ``"phonetic"``), its vocabulary sizes (``sizes``: setting -> words) and
    the retrieval_scale metrics of the variants that have a curve (``curves``). A learned or fused
    cell is compared with the phonetic baseline on the same queries and list (the run's own
    phonetic scores: a RADA row's list is filtered), and the seeds' orderings are read off the
    same runs."""
    rows = sorted(rows, key=lambda r: (r.table, r.row, r.name))
    phonetic = evals.get("phonetic")

    def value(run: Results | None, setting: str, scorer: str, metric: str):
        name = f"{setting}/{scorer}/{metric}"
        if scorer == "phonetic":
            return estimate(run, name)
        own = run is not None and run.metric(f"{setting}/phonetic/{metric}") is not None
        return pairing.cell(run, name, ("phonetic", run, f"{setting}/phonetic/{metric}") if own
                            else ("phonetic", phonetic, name.replace(f"/{scorer}/", "/phonetic/")))

    def words(name: str):
        return sizes.get(name, {}).get(vocabulary)

    def ablation(slug: str, title: str, table: str, mode: str, ks: Sequence[int]) -> Table:
        columns = [Column("method", TEXT), Column("scorer", TEXT), Column("words", "count")] \
            + [Column(f"R@{k}") for k in ks] + [Column("F1@1")]
        body = [["phonetic baseline (ASR 1-best)", "phonetic", words("phonetic"),
                 *(value(phonetic, vocabulary, "phonetic", f"{mode}@{k}_recall") for k in ks),
                 value(phonetic, vocabulary, "phonetic", "exact@1_f1")]]
        members = [r for r in rows if r.table == table]
        filtered = {}  # RADA rows rank a filtered list: the baseline on that list, from their own evaluation
        for r in members:
            if r.extra.get("rada") and r.name in evals and words(r.name) != words("phonetic"):
                filtered.setdefault(words(r.name), evals[r.name])
        for count, run in filtered.items():
            body.append(["phonetic baseline, RADA-filtered lists", "phonetic", count,
                         *(value(run, vocabulary, "phonetic", f"{mode}@{k}_recall") for k in ks),
                         value(run, vocabulary, "phonetic", "exact@1_f1")])
        for r in members:
            run = evals.get(r.name)
            for scorer in ("learned", "fused"):
                body.append([r.label, scorer, words(r.name),
                             *(value(run, vocabulary, scorer, f"{mode}@{k}_recall") for k in ks),
                             value(run, vocabulary, scorer, "exact@1_f1")])
        return Table(slug, title, columns, body)

    tables = [
        ablation("seed000_table1",
                 f"Seed 000 Table 1: CLAR loss ablation (exact R@k and F1@1 on the {vocabulary} vocabulary, %)",
                 "clar", "exact", (1, 5, 10)),
        ablation("seed001_tables1_2",
                 "Seed 001 Tables 1-2: GLCLAP, +RADA, +Fuzzy Matching "
                 f"(substring recall@k on the {vocabulary} vocabulary, %)",
                 "glclap", "substring", (1, 2, 5, 10)),
        ablation("seed002_clsr", f"Seed 002: CLSR (exact R@k on the {vocabulary} vocabulary, %)", "clsr", "exact",
                 (1, 5, 10)),
    ]
    settings = list((sizes.get("phonetic") or next((s for s in sizes.values() if s), {})).items())
    if settings:
        columns = ([Column("method", TEXT), Column("scorer", TEXT)]  # "own (180)"; a size named by its count once
                   + [Column(name if name == str(count) else f"{name} ({count})") for name, count in settings])
        body = [["phonetic baseline", "phonetic",
                 *(value(phonetic, name, "phonetic", "exact@1_recall") for name, _ in settings)]]
        for r in rows:
            for scorer in ("learned", "fused"):
                body.append([r.label, scorer,
                             *(value(evals.get(r.name), name, scorer, "exact@1_recall") for name, _ in settings)])
        tables.append(Table("retrieval_scale", "Retrieval at scale: exact R@1 by vocabulary (words), %", columns, body))
    long_rows = [r for r in rows if r.extra.get("method") in ("glclap", "clsr")]
    columns = [Column("method", TEXT)] + [Column(f"{d} R@{k}") for d in ("Q→C", "C→Q") for k in (1, 5, 10)]
    body = [[r.label, *(estimate(evals.get(r.name), f"longform/{d}_r@{k}")
                        for d in ("q2c", "c2q") for k in (1, 5, 10))] for r in long_rows]
    tables.append(Table("seed002_table2", "Seed 002 Table 2 style: long-form retrieval, Q→C and C→Q R@k (%)",
                        columns, body,
                        "Test clips joined into recordings and cut in fixed windows; "
                        "Q = hotword text, C = speech window."))
    labels = {r.name: r.label for r in rows}
    orderings = [pairing.ordering(claim, (f"{labels.get(a, a)} {sa}", evals.get(a), f"{vocabulary}/{sa}/{metric}"),
                                  (f"{labels.get(b, b)} {sb}", evals.get(b), f"{vocabulary}/{sb}/{metric}"), "higher")
                 for claim, (a, sa), (b, sb), metric in RETRIEVAL_ORDERINGS]
    tables.append(orderings_table("retrieval_orderings",
                                  f"Retrieval: do the seeds' orderings hold on our runs? ({vocabulary} vocabulary)",
                                  orderings))
    tables.append(data_scale_table(curves or {}))
    return tables


def _curve_cell(point: Mapping, name: str):
    """A rate of a data-scale point with its interval (an Estimate) when the point has one."""
    value, lo, hi = (point.get(key) for key in (name, f"{name}_ci_lo", f"{name}_ci_hi"))
    return value if value is None or lo is None or hi is None else Estimate(value, lo, hi)


def _curve_ks(curves: Mapping[str, Mapping]) -> list[int]:
    return sorted({int(k) for curve in curves.values() for k in curve.get("ks", ())}) or [1, 5, 10]


def data_scale_table(curves: Mapping[str, Mapping]) -> Table:
    """Issue 20's data-scale curve: held-out exact R@k (with intervals) by distinct training
    words, a row per point of each variant's retrieval_scale ``metrics.json`` (``curves``:
    variant -> ``ScaleCurve.metrics``)."""
    ks = _curve_ks(curves)
    columns = [Column("retriever", TEXT), Column("training words", "count"), Column("examples", "count"),
               *(Column(f"R@{k}", digits=1) for k in ks), Column("train s", "number", 0)]
    body = [[name, point.get("words"), point.get("examples"),
             *(_curve_cell(point, f"exact@{k}_recall") for k in ks), point.get("train_seconds")]
            for name, curve in curves.items() for point in curve.get("points", ())]
    note = "; ".join(f"{name}: {curve.get('queries')} held-out queries over {curve.get('candidates')} candidates"
                     for name, curve in curves.items()) or "no retrieval_scale run yet"
    return Table("retrieval_data_scale", "Data-scale curve: held-out exact R@k by distinct training words (%)",
                 columns, body, note + " (nested word sets, one seeded permutation; 95 % bootstrap intervals "
                 "over the held-out queries).")


def data_scale_plot(curves: Mapping[str, Mapping]) -> PlotData:
    """The data-scale curve as lines with error bars: a panel per R@k, a line per variant, and
    chance (k / candidates) where the variants share one candidate list."""
    plot = PlotData("retrieval_data_scale", "Data-scale curve: held-out exact R@k by distinct training words",
                    "lines", "distinct training words", "exact R@k (%)")
    candidates = {curve.get("candidates") for curve in curves.values()}
    for k in _curve_ks(curves):
        plot.panels[f"R@{k}"] = {name: [_point(p["words"], _curve_cell(p, f"exact@{k}_recall"))
                                        for p in curve.get("points", ())] for name, curve in curves.items()}
        if len(candidates) == 1 and (count := next(iter(candidates))):
            plot.references[f"R@{k}"] = {f"chance ({k}/{count})": 100 * min(1.0, k / count)}
    return plot


def retrieval_study(store: RunStore, experiments: Path | None = None, vocabulary: str = "lists") -> StudyReport:
    evals = store.latest_by("variant", stage="eval_retrieval")
    trains = store.latest_by("variant", stage="train_retriever")
    # labels of variants the YAMLs do not know come from their training run (it logs the experiment)
    rows = _rows_from_runs(list(trains.values()), retrieval_rows(experiments / "retrieval" if experiments else None),
                           lambda run: {"method": run.tags.get("method")})
    rows.sort(key=lambda r: (r.table, r.row, r.name))
    phonetic = evals.get("phonetic")
    sizes = {name: (store.artifact_json(run, "metrics.json") or {}).get("vocabularies", {})
             for name, run in evals.items()}
    scales = store.latest_by("variant", stage="retrieval_scale")
    curves = {name: curve for name, run in sorted(scales.items())
              if (curve := store.artifact_json(run, "metrics.json")) is not None}

    ks = (1, 2, 5, 10)
    recall_curves = PlotData("retrieval_recall_at_k", f"Recall@k on the {vocabulary} vocabulary (substring match)",
                             "lines", "k", "recall@k (%)")
    for scorer in ("learned", "fused"):
        panel = {"phonetic baseline": [
            _point(k, estimate(phonetic, f"{vocabulary}/phonetic/substring@{k}_recall")) for k in ks]}
        for r in rows:
            panel[r.label] = [_point(k, estimate(evals.get(r.name), f"{vocabulary}/{scorer}/substring@{k}_recall"))
                              for k in ks]
        recall_curves.panels[scorer] = panel
    return StudyReport("retrieval", "Hotword retrievers: CLAR (seed 000), GLCLAP (seed 001), CLSR (seed 002)",
                       retrieval_tables(rows, evals, sizes, vocabulary, Pairing(store.ratios), curves),
                       [recall_curves, data_scale_plot(curves)], len(evals) + len(trains) + len(scales))


# --------------------------------------------------------------------------- speech LLM (seed 000 T3, seed 001 T3-4)

def speechllm_study(store: RunStore, experiments: Path | None = None, grpo_condition: str = "top2") -> StudyReport:
    run = store.latest(stage="eval_contextual")
    conditions = _conditions(run)
    pairing = Pairing(store.ratios)

    def metric(model: str, decoding: str, condition: str, name: str):
        return run.metric(f"{model}/{decoding}/{condition}/{name}") if run else None

    def cell(model: str, decoding: str, condition: str, name: str, versus: tuple[str, str, str] | None = None):
        """The cell, compared with the same run's (model, decoding, condition) ``versus``."""
        baseline = None if versus is None else (" ".join(versus), run, "/".join((*versus, name)))
        return pairing.cell(run, f"{model}/{decoding}/{condition}/{name}", baseline)

    na = ("sft", "greedy", "NA")
    # vanilla: the untouched Whisper (seed 000's "Vanilla" row), present when eval_contextual ran it
    # adapter_lm: the encoder -> adapter -> SmolLM2 backbone after the same SFT, untrained for ASR at this scale
    models = [m for m in ("vanilla", "sft", "grpo", "adapter_lm")
              if metric(m, "greedy", "NA", "wer") is not None] or ["sft", "grpo"]
    labels = {"adapter_lm": "adapter_lm (untrained for ASR)"}
    columns = [Column("model", TEXT), Column("condition", TEXT), Column("decoding", TEXT), Column("recall"),
               Column("CER"), Column("B-WER"), Column("U-CER"), Column("WER")]
    body = [[labels.get(model, model), condition, decoding, cell(model, decoding, condition, "list_recall"),
             *(cell(model, decoding, condition, k, na if model in ("sft", "grpo") else None)
               for k in ("cer", "b_wer", "u_cer", "wer"))]
            for model in models for decoding, condition in conditions]
    seed000 = Table("seed000_table3",
                    "Seed 000 Table 3: speech LLM with retrieved hotwords (NA = no list, GT = oracle list, "
                    "topk = retrieved; %)",
                    columns, body)
    topk = [c for d, c in conditions if d == "greedy" and c.startswith("top")]
    columns = [Column("metric", TEXT), Column("base (NA)")] + [Column(c.replace("top", "top-")) for c in topk]
    seed001_t3 = Table("seed001_table3", "Seed 001 Table 3: the SFT speech LLM with top-k retrieved hotwords (%)",
                       columns, [
        ["recall", None, *(cell("sft", "greedy", c, "list_recall") for c in topk)],
        ["KER (↓)", cell("sft", "greedy", "NA", "ker"), *(cell("sft", "greedy", c, "ker", na) for c in topk)],
        ["SACC (↑)", cell("sft", "greedy", "NA", "sacc"), *(cell("sft", "greedy", c, "sacc", na) for c in topk)],
    ])
    label = grpo_condition.replace("top", "top-")
    columns = [Column("metric", TEXT), Column("base (NA)"), Column(f"+retriever {label}"),
               Column(f"+retriever {label} +GRPO")]
    seed001_t4 = Table("seed001_table4", f"Seed 001 Table 4: GRPO on top of the {label} configuration (%)", columns, [
        [name, cell("sft", "greedy", "NA", key), cell("sft", "greedy", grpo_condition, key, na),
         cell("grpo", "greedy", grpo_condition, key, ("sft", "greedy", grpo_condition))]
        for name, key in (("KER (↓)", "ker"), ("SACC (↑)", "sacc"))
    ])

    def side(model: str, decoding: str, condition: str, name: str) -> tuple[str, RunRecord | None, str]:
        return f"{model.upper()} {decoding} {condition}", run, f"{model}/{decoding}/{condition}/{name}"

    orderings = [pairing.ordering(f"seed 001 Table 3: {c.replace('top', 'top-')} hotwords lower KER below no list",
                                  side("sft", "greedy", "NA", "ker"), side("sft", "greedy", c, "ker"), "lower")
                 for c in topk]
    orderings += [
        pairing.ordering("seed 000 Table 3: the oracle list lowers B-WER below no list",
                         side("sft", "greedy", "NA", "b_wer"), side("sft", "greedy", "GT", "b_wer"), "lower"),
        pairing.ordering("SFT keeps the vanilla Whisper's accuracy: NA WER not above vanilla's",
                         side("vanilla", "greedy", "NA", "wer"), side("sft", "greedy", "NA", "wer"), "lower"),
        pairing.ordering("the oracle list lowers KER below no list (SFT)",
                         side("sft", "greedy", "NA", "ker"), side("sft", "greedy", "GT", "ker"), "lower"),
        pairing.ordering("zero-shot: the oracle list in Whisper's prompt lowers KER (vanilla)",
                         side("vanilla", "greedy", "NA", "ker"), side("vanilla", "greedy", "GT", "ker"), "lower"),
        pairing.ordering(f"seed 001 Table 4: GRPO lowers KER below SFT ({label})",
                         side("sft", "greedy", grpo_condition, "ker"), side("grpo", "greedy", grpo_condition, "ker"),
                         "lower"),
    ]
    ks = [int(c[3:]) for c in topk if c[3:].isdigit()]
    plot = PlotData("speechllm_ker_vs_k", "KER vs number of retrieved hotwords k", "lines", "k", "KER (%)", {"": {
        model: [_point(k, estimate(run, f"{model}/greedy/top{k}/ker")) for k in ks] for model in ("sft", "grpo")}},
        {"": {f"{model} {condition}": _percent(metric(model, "greedy", condition, "ker"))
              for model in ("sft", "grpo") for condition in ("NA", "GT")
              if metric(model, "greedy", condition, "ker") is not None}})
    return StudyReport("speechllm",
                       "Speech LLM with retrieved hotwords and GRPO (seed 000 Table 3, seed 001 Tables 3-4)",
                       [seed000, seed001_t3, seed001_t4,
                        orderings_table("speechllm_orderings",
                                        "Speech LLM: do the seeds' orderings hold on our runs?", orderings)],
                       [plot], 1 if run else 0)


def _conditions(run: RunRecord | None) -> list[tuple[str, str]]:
    """(decoding, condition) pairs the run evaluated, in the seed's order: NA, GT, top-k by k; joint last."""
    if run is None:
        return [("greedy", c) for c in ("NA", "GT", "top1", "top2", "top5", "top10")]
    found = {tuple(name.split("/")[1:3]) for name in run.metrics if name.count("/") == 3}
    order = lambda dc: (dc[0] != "greedy",  # noqa: E731
                        {"NA": -2, "GT": -1}.get(dc[1], int(dc[1][3:]) if dc[1][3:].isdigit() else 99))
    return sorted(found, key=order)


# --------------------------------------------------------------------------- seed 004: S1/S2 replay

S1S2_PAIRED = ("wer", "cer", "mer", "proper_noun_hit_rate", "digit_error_rate")  # rates both systems have
S1S2_ORDERINGS = (  # (claim, A, B, metric, better)
    ("S1 prompt biasing raises the proper-noun hit rate over no bias", "no_bias", "s1", "proper_noun_hit_rate",
     "higher"),
    ("S1 prompt biasing lowers MER below no bias", "no_bias", "s1", "mer", "lower"),
    ("S2-A rescoring (N-best) lowers MER below S1", "s1", "s1_s2a", "mer", "lower"),
    ("S2-B rescoring (second pass) lowers MER below S1", "s1", "s1_s2b", "mer", "lower"),
)


def s1s2_study(store: RunStore, experiments: Path | None = None) -> StudyReport:
    from workbench.rescoring.replay import METRIC_COLUMNS, SYSTEMS  # the replay's own systems and columns

    runs = store.latest_by("manifest", stage="s1s2_replay")
    pairing = Pairing(store.ratios)
    columns = [Column("test set", TEXT), Column("system", TEXT)] + [column for _, column in METRIC_COLUMNS]
    body, orderings = [], []
    for manifest, run in sorted(runs.items()):
        name = run.params.get("name") or Path(manifest).parent.name
        for system in SYSTEMS.values():
            # S1 against no bias, every S2 system against S1 (what S2 adds), same commits
            base = None if system.name == "no_bias" else "no_bias" if system.name == "s1" else "s1"
            body.append([name, system.label, *(
                pairing.cell(run, f"{system.name}.{key}",
                             (SYSTEMS[base].label, run, f"{base}.{key}") if base and key in S1S2_PAIRED else None)
                for key, _ in METRIC_COLUMNS)])
        orderings += [pairing.ordering(f"seed 004: {claim} ({name})", (SYSTEMS[a].label, run, f"{a}.{metric}"),
                                       (SYSTEMS[b].label, run, f"{b}.{metric}"), better)
                      for claim, a, b, metric, better in S1S2_ORDERINGS]
    table = Table("seed004_s1s2", "Seed 004 S1/S2 replay: prompt biasing and conditional N-best rescoring (%)",
                  columns, body,
                  "Trigger over commits; win/loss over triggered commits; +ms: latency S2 adds to triggered commits. "
                  "A gap: not applicable (no trigger, no digits in the references). S1 is compared with no bias, "
                  "each S2 system with S1.")
    return StudyReport("s1s2", "Seed 004: S1 prompt biasing and S2 rescoring, replayed",
                       [table, orderings_table("seed004_orderings", "Seed 004: do the seed's orderings hold on our "
                                               "runs?", orderings)], [], len(runs))


def _percent(value):
    return None if value is None else 100 * raw(value)


def _point(x, cell) -> tuple:
    """A plot point (x, y %), with its interval (x, y, lo, hi) when the cell has one."""
    if isinstance(cell, Estimate) and cell.has_interval:
        return x, _percent(cell.value), _percent(cell.lo), _percent(cell.hi)
    return x, _percent(cell)


STUDIES: dict[str, Callable[..., StudyReport]] = {
    "baseline": baseline_study, "cs_nmg": cs_nmg_study, "retrieval": retrieval_study,
    "speechllm": speechllm_study, "s1s2": s1s2_study,
}
