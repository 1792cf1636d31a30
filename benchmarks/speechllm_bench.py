"""The speech LLM on this CPU (issue 21): SFT and GRPO step time and peak memory, and generation
seconds per utterance, greedy and joint beam, for a backbone (Whisper base by default).

Each phase runs in its own process, so its peak resident memory is its own:

    .venv/bin/python benchmarks/speechllm_bench.py --frames results/speechllm/frames --steps 6
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

PHASES = ("sft", "grpo", "decode")


def _data(args):
    from workbench.features import PADDED
    from workbench.speechllm.data import load_training_data

    return load_training_data([args.train], [args.vocabulary], [args.test], [args.frames], args.model,
                              length=PADDED)


def _backbone(args):
    from workbench.speechllm.whisper_backbone import WhisperBackboneConfig, build_whisper_backbone

    return build_whisper_backbone(args.model, WhisperBackboneConfig())


def sft_phase(args) -> dict:
    from workbench.speechllm.prompts import PromptConfig
    from workbench.speechllm.training import SFTLoopConfig, train_sft

    data, model = _data(args), _backbone(args)
    stamps: list[float] = []
    loop = SFTLoopConfig(batch_size=args.batch_size, warmup_steps=1, checkpoint_every=1000)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        train_sft(model, data.examples, data.states, data.vocabulary, loop, Path(tmp), PromptConfig(),
                  log_metrics=lambda metrics, step: stamps.append(time.perf_counter()), stop_after_steps=args.steps)
    steps = [b - a for a, b in zip([start, *stamps], stamps)]
    return {"steps": len(steps), "batch_size": args.batch_size, "median_step_s": statistics.median(steps[1:] or steps)}


def grpo_phase(args) -> dict:
    from datasets import Dataset
    from trl import GRPOConfig

    from workbench.rl.grpo import SpeechGRPOTrainer, grpo_rows
    from workbench.rl.rewards import match_reward, wer_reward
    from workbench.speechllm.prompts import PromptConfig, example_rng, training_list

    data, model = _data(args), _backbone(args)
    prompts = PromptConfig(unbiased_per_biased=0.0)
    examples = data.examples[: args.steps]
    lists = [training_list(e.hotwords, data.vocabulary, example_rng(0, 0, e.id), prompts, e.text).words
             for e in examples]
    rendered = [model.render_prompt(w, prompts, e.language) for w, e in zip(lists, examples)]
    with tempfile.TemporaryDirectory() as tmp:
        config = GRPOConfig(output_dir=tmp, per_device_train_batch_size=6, num_generations=6, max_completion_length=48,
                            max_steps=args.steps, learning_rate=5e-5, beta=0.04, logging_steps=1, report_to="none",
                            use_cpu=True, bf16=False, disable_tqdm=True, save_strategy="no")
        trainer = SpeechGRPOTrainer(model, data.states, reward_funcs=[match_reward, wer_reward], args=config,
                                    train_dataset=Dataset.from_list(grpo_rows(examples, lists, rendered)))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    return {"steps": args.steps, "generations": 6, "mean_step_s": seconds / args.steps}


def decode_phase(args) -> dict:
    from workbench.data import read_manifest
    from workbench.features import PADDED
    from workbench.speechllm.data import encoder_states
    from workbench.speechllm.decoding import DecodeOptions, transcribe

    utterances = read_manifest(args.test)[: args.clips]
    states = encoder_states([args.frames], args.model, [u.id for u in utterances], PADDED)
    model = _backbone(args).eval()
    clips = [states[u.id] for u in utterances]
    lists = [tuple(u.hotwords or ()) for u in utterances]
    languages = [u.language for u in utterances]
    out = {"clips": len(clips)}
    joint = DecodeOptions(joint=True, beam_size=2, joint_n_best=2)
    for name, options in (("greedy", DecodeOptions()), ("joint", joint)):
        start = time.perf_counter()
        transcribe(model, clips, lists, options, languages=languages)
        out[f"{name}_s_per_utt"] = (time.perf_counter() - start) / len(clips)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=Path, default=Path("results/speechllm/frames"), help="padded store")
    parser.add_argument("--train", type=Path, default=Path("data/default/en_entities/train.jsonl"))
    parser.add_argument("--test", type=Path, default=Path("data/default/en_entities/test.jsonl"))
    parser.add_argument("--vocabulary", type=Path, default=Path("data_manifests/default/en_distractors.txt"))
    parser.add_argument("--model", default="models/whisper-base.pt")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)  # one phase, in a child process
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/speechllm.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.phase:
        result = {"sft": sft_phase, "grpo": grpo_phase, "decode": decode_phase}[args.phase](args)
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return
    results = {}
    for phase in PHASES:
        child = subprocess.run([sys.executable, *sys.argv, "--phase", phase], capture_output=True, text=True,
                               check=True)
        results[phase] = json.loads(child.stdout.strip().splitlines()[-1])
        print(phase, results[phase], flush=True)
    from workbench.data import write_json_atomic

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out, {"threads": args.threads, "backbone": "whisper", "model": args.model, **results})


if __name__ == "__main__":
    main()
