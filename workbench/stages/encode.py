"""Stage ``encode``: Whisper encoder features of manifests, computed once into a feature store.

``--layout padded`` (the default): each clip padded to Whisper's 30-s window, the encoder output
that ``train_asr``, ``eval_asr`` and ``nearmiss`` feed the decoder (frozen encoder: the same at
every epoch and for every variant). ``--layout own``: each clip at its own length (about 8x
cheaper for 3-4 s clips), read by the retrievers and the speech LLM; ``--trainable-layers N``
stores the states below the top N encoder blocks, which a partly trained retriever runs itself.

The store is bound to the checkpoint's encoder weights and the layout: rerunning into it with
another checkpoint or layout is refused. Resumable: stored utterances are skipped.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.features import OWN, PADDED, EncodeConfig, Layout
from workbench.features.provision import fill_store
from workbench.runner import Stage, StageContext


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifests", nargs="+", type=Path, help="utterance manifests (jsonl) to encode")
    parser.add_argument("--out", type=Path, required=True, help="feature store directory")
    parser.add_argument("--layout", choices=(PADDED, OWN), default=PADDED,
                        help="padded: 30-s windows for the ASR stages (default); own: each clip's own length")
    parser.add_argument("--trainable-layers", type=int, default=0, metavar="N",
                        help="own layout: store the states below the top N encoder blocks (the retriever's "
                        "architecture.audio_trainable_layers; default 0: the encoder output)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    store, missing, stored = fill_store(args.out, Layout(args.layout, args.trainable_layers), args.manifests,
                                        config.model, config.device, config.batch_size)
    with context.progress(missing, f"encode {args.out.name}") as bar:
        for count in stored:
            bar.update(count)
    context.log.info("%d utterances' %s in %s", len(store), store.layout, args.out)


STAGE = Stage("encode", "compute Whisper encoder features of manifests once (30-s-padded for the ASR stages, "
              "own-length for the retrievers and the speech LLM); resumable", add_arguments, run,
              config=EncodeConfig, description=__doc__)
