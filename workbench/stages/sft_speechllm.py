"""Stage ``sft_speechllm``: supervised fine-tuning of the speech LLM (seed 001 §3.1.1, §3.2).

Backbone ``whisper`` (the default): Whisper base with LoRA on its decoder, the biasing list in its
previous-text slot, reading padded encoder states (``encode --layout padded``, frozen). Backbone
``adapter_lm``: own-length encoder states -> 2x frame concatenation -> two-layer adapter ->
SmolLM2-135M-Instruct with LoRA, prompted "Transcribe the audio into text. These biasing words you
may use: ...". Lists mixing true hotwords and distractors (8:1
without/with a list, positive/negative lists 1:1, redrawn every epoch). Utterances mentioning a
hotword of the ``--exclude`` manifests (the evaluation sets) are left out and those hotwords never
serve as distractors. Resumable, under ``dvc repro`` too (checkpoint every ``loop.checkpoint_every``
steps into ``<out>.resume/<fingerprint>/``, see ``workbench.data.resume``; deleted once the
model is saved); the loss goes to MLflow. Output: ``--out/model`` (adapter + LoRA weights; the base
LM is not copied), train.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.runner import Stage, StageContext
from workbench.speechllm.data import backbone_layout, load_training_data
from workbench.speechllm.options import SFTSpeechLLMConfig, add_training_data_arguments
from workbench.speechllm.sft import fine_tune, training_process
from workbench.speechllm.training import CHECKPOINT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_training_data_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory: model/, train.json "
                        "(checkpoints while training: <out>.resume/<fingerprint>/)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    data = load_training_data(args.manifest, args.vocabulary, args.exclude, args.frames, config.model,
                              config.max_train_utterances, backbone_layout({"backbone": config.backbone}))
    context.log.info("%d training utterances (%s); %d distractor words; %d evaluation hotwords excluded",
                     len(data.examples), data.counts, len(data.vocabulary), data.excluded_hotwords)
    main = training_process().is_main_process  # one of several under `accelerate launch`: only rank 0 reports
    with context.tracked("sft", {"study": "speechllm"}, main_process=main) as run:
        state = context.resume(args.out, [*args.manifest, *args.vocabulary, *args.exclude, *args.frames, config.lm,
                                          config.model], main_process=main)
        with context.training_progress("sft speechllm", state.directory / CHECKPOINT, main_process=main) as steps:
            result = fine_tune(config, data, state.directory, run.log_metrics, steps.progress, steps.resumed)
        if not main:
            return
        result.model.save(args.out / "model", result.meta)
        context.write_json(args.out / "train.json", result.summary)
        run.log_metrics({"train_seconds": result.seconds})
        state.finish()  # done: a rerun is a new run
        print(json.dumps(result.summary))


STAGE = Stage("sft_speechllm", "SFT of the speech LLM (Whisper + LoRA, or Whisper states -> adapter -> causal "
              "LM + LoRA) with biasing-word prompts; resumable", add_arguments, run, config=SFTSpeechLLMConfig,
              description=__doc__)
