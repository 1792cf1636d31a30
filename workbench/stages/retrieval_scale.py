"""Stage ``retrieval_scale``: the data-scale curve of a retriever experiment, held-out exact R@k
(with bootstrap intervals over the held-out queries) by number of distinct training words.

The experiment is trained from scratch on nested sets of distinct training words (``sizes``: the
first n words of one seeded permutation; an example joins a set when all its hotwords are in it)
and ranks the held-out manifest's queries over their own hotwords plus the ``--vocabulary``
lists. Training examples that mention a held-out or ``--exclude`` hotword are left out.
Resumable: each size checkpoints in ``<out>.resume/<fingerprint>/words_<n>/``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.data import write_text_atomic
from workbench.retrieval.data import load_examples
from workbench.retrieval.experiment import load_retriever_experiment
from workbench.retrieval.fit import load_states, scale_curve, training_data
from workbench.retrieval.options import RetrievalScaleConfig
from workbench.runner import Stage, StageContext
from workbench.text.hotwords import read_hotword_lists


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--experiment", type=Path, required=True, help="experiment YAML (experiments/retrieval/<name>.yaml)")
    add("--manifest", type=Path, nargs="+", required=True, help="training manifests (jsonl)")
    add("--rada", type=Path, default=None, help="RADA stage output (its clips join training for rada: true)")
    add("--heldout", type=Path, required=True, help="held-out manifest: its utterances with hotwords are the queries")
    add("--exclude", type=Path, nargs="*", default=[], help="manifests whose hotwords must not occur in training")
    add("--vocabulary", type=Path, nargs="*", default=[], help="lists added to the held-out hotwords as candidates")
    add("--frames", type=Path, required=True, help="own-length feature store holding the training and held-out clips")
    add("--out", type=Path, required=True, help="output directory: metrics.json, ratios.json, table.md")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    experiment = load_retriever_experiment(args.experiment)
    data = training_data(experiment, args.manifest, args.rada, [*args.exclude, args.heldout])
    heldout, _ = load_examples([args.heldout], set())
    distractors = read_hotword_lists(args.vocabulary).phrases if args.vocabulary else ()
    context.log.info("%s: %d training examples, %d held-out queries, sizes %s", experiment.name, len(data.examples),
                     sum(1 for e in heldout if e.hotwords), list(config.sizes))
    tags = {"study": "retrieval", "variant": experiment.name, "method": experiment.method}
    with context.tracked(f"scale-{experiment.name}", tags, {"experiment": experiment.params()}) as run:
        inputs = [*data.manifests, *args.exclude, args.heldout, *args.vocabulary, args.frames, config.model,
                  config.text_model]
        resume = context.resume(args.out, inputs, {"experiment": args.experiment.read_text(encoding="utf-8")})
        whisper_model, _, states = load_states(config, experiment, args.frames,
                                               [e.id for e in (*data.examples, *heldout)])
        with context.training_progress("scale curve: word sets trained", resume.directory) as sizes:
            curve = scale_curve(experiment, config, data.examples, heldout, states, whisper_model, config.sizes,
                                resume.directory, config.ks, distractors, config.subset_seed, config.clar_candidates,
                                sizes.progress, data.excluded)
        run.log_metrics(curve.flat(config.intervals))
        args.out.mkdir(parents=True, exist_ok=True)
        context.write_json(args.out / "metrics.json", curve.metrics(config.intervals))
        context.write_json(args.out / "ratios.json", curve.ratios.to_json())
        write_text_atomic(args.out / "table.md", curve.table(config.intervals, experiment.name))
        resume.finish()
    print(curve.table(config.intervals, experiment.name))


STAGE = Stage("retrieval_scale", "data-scale curve: held-out retrieval R@k by distinct training words (nested "
              "subsets, one experiment); resumable", add_arguments, run, config=RetrievalScaleConfig,
              description=__doc__)
