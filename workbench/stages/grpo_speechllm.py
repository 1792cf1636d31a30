"""Stage ``grpo_speechllm``: GRPO of the SFT speech LLM (any backbone) with trl (seed 001 §2.2.3, §3.2).

Each prompt carries a biasing list (true hotwords + distractors, or distractors only, 1:1); trl
samples ``num_generations`` completions per prompt and rewards them with the match reward and
1 − WER (``workbench.rl.rewards``), normalizes the rewards within each group and optimizes its
clipped objective with a β-weighted KL to the LoRA-disabled model (β = 0.04). Only the LoRA
weights train. Resumable, under ``dvc repro`` too: trl checkpoints every ``save_steps`` into
``<out>.resume/<fingerprint>/checkpoints`` (``workbench.data.resume``) and a rerun of the same
configuration continues from the last complete one; the directory is deleted once the model is
saved. Output: ``--out/model`` (same format as the SFT model), train.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workbench.rl.options import GRPOSpeechLLMConfig
from workbench.rl.training import grpo_policy, train_grpo
from workbench.runner import Stage, StageContext
from workbench.speechllm.backbone import read_speechllm_meta
from workbench.speechllm.data import backbone_layout, load_training_data
from workbench.speechllm.options import add_training_data_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sft", type=Path, required=True, help="sft_speechllm's model directory")
    add_training_data_arguments(parser)
    parser.add_argument("--out", type=Path, required=True, help="output directory: model/, train.json "
                        "(trl checkpoints while training: <out>.resume/<fingerprint>/checkpoints/)")


def run(context: StageContext) -> None:
    args, config = context.args, context.config
    sft = read_speechllm_meta(args.sft)
    data = load_training_data(args.manifest, args.vocabulary, args.exclude, args.frames, sft["whisper"],
                              config.max_train_utterances, backbone_layout(sft))
    policy = grpo_policy(args.sft, sft, data, config)
    context.log.info("GRPO on %d prompts (%s), %d steps of %d prompts x %d generations", len(data.examples),
                     data.counts, config.max_steps, config.prompts_per_step, config.num_generations)
    with context.tracked("grpo", {"study": "speechllm"}, {"sft": sft}) as run:
        state = context.resume(args.out, [args.sft, *args.manifest, *args.vocabulary, *args.exclude, *args.frames,
                                          config.lm])
        with context.training_progress("grpo speechllm", state.directory / "checkpoints", config.max_steps) as steps:
            result = train_grpo(policy, config, sft, state.directory / "checkpoints", run.log_metrics,
                                progress=steps.progress, on_resume=steps.resumed)
        policy.model.save(args.out / "model", result.meta)
        context.write_json(args.out / "train.json", result.summary)
        if result.main_process:
            state.finish()  # the run is done; the model is saved
        print(json.dumps(result.summary, default=str))


STAGE = Stage("grpo_speechllm", "GRPO (trl) of the SFT speech LLM with match and 1-WER rewards; resumable; logs "
              "rewards to MLflow", add_arguments, run, config=GRPOSpeechLLMConfig, description=__doc__)
