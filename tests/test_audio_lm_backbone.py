"""The audio_lm backbone of the speech LLM (issue 21) on a tiny randomly initialised
``Qwen2AudioForConditionalGeneration`` (1-layer audio tower with the real 128 mel bins and 30-s
window, 2-layer Qwen2 text model, a BPE tokenizer trained here with Qwen2-Audio's special tokens
and chat template): its inputs are the Qwen2-Audio processor's, padding changes nothing, it saves
and loads, and SFT -> GRPO -> eval_contextual run through the stages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_speech_corpus
from workbench.cli import main
from workbench.data import load_audio
from workbench.errors import InputError
from workbench.speechllm.audio_lm import (
    AudioLMConfig,
    audio_token_count,
    build_audio_lm,
    feature_extractor,
    mel_features,
)
from workbench.speechllm.backbone import load_backbone
from workbench.speechllm.decoding import generate
from workbench.speechllm.prompts import PromptConfig
from workbench.testing.dummies import tiny_qwen2_audio

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ROWS = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]
SMALL = AudioLMConfig(window_seconds=5.0, lora_rank=4, lora_alpha=8)  # the fixture clips are ~3.2 s


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return tiny_qwen2_audio(tmp_path_factory.mktemp("tiny-qwen2-audio"))


@pytest.fixture(scope="module")
def backbone(tiny_dir):
    return build_audio_lm(tiny_dir, SMALL).eval()


@pytest.fixture(scope="module")
def states():
    ids = [r["id"] for r in ROWS]
    return list(mel_features({r["id"]: FIXTURES / r["audio"] for r in ROWS}, ids).values())


def test_prompt_and_features_are_the_qwen2_audio_processors(backbone, states):
    from transformers import Qwen2AudioProcessor

    assert backbone.audio_tokens == audio_token_count(500) == 125  # 5 s: 500 mel frames -> 125 audio states
    rendered = backbone.render_prompt(["Ponyo", "Totoro"], PromptConfig(), "en")
    placeholders = "<|AUDIO|>" * backbone.audio_tokens
    assert rendered == ("<|im_start|>system\nYou transcribe speech.<|im_end|>\n<|im_start|>user\nAudio 1: "
                        f"<|audio_bos|>{placeholders}<|audio_eos|>\nTranscribe the audio into text. These biasing "
                        "words you may use: Ponyo, Totoro<|im_end|>\n<|im_start|>assistant\n")
    # the processor, given the unexpanded prompt and the clip followed by silence up to the window,
    # expands the placeholder and computes the features exactly as the backbone does
    processor = Qwen2AudioProcessor(feature_extractor=feature_extractor(), tokenizer=backbone.tokenizer)
    features, mask = backbone.audio(states)
    for row, clip_features, clip_mask in zip(ROWS, features, mask):
        clip = load_audio(FIXTURES / row["audio"])
        padded = np.concatenate([clip, np.zeros(5 * 16000 - len(clip), dtype=np.float32)])
        expected = processor(text=[rendered.replace(placeholders, "<|AUDIO|>")], audio=[padded],
                             sampling_rate=16000, return_tensors="pt")
        assert expected["input_ids"][0].tolist() == backbone.prompt_ids(["Ponyo", "Totoro"], PromptConfig(), "en")
        assert torch.equal(expected["input_features"][0], clip_features)
        assert expected["feature_attention_mask"][0].tolist() == clip_mask.tolist()
    assert backbone.completion_ids("hello world")[-1] == backbone.tokenizer.eos_token_id


def test_teacher_forced_logprobs_equal_a_direct_forward_and_trls_fused_head(backbone, states):
    from trl.trainer.utils import add_fused_lm_head

    prompts = [backbone.prompt_ids(["Ponyo"], PromptConfig(), "en"), backbone.prompt_ids([], PromptConfig(), "zh")]
    texts = ["hello world", "the quick brown fox"]
    ids, mask, target = backbone.teacher_forced(list(zip(prompts, texts)))
    lengths = [len(p) + len(backbone.completion_ids(t)) for p, t in zip(prompts, texts)]
    audio = backbone.audio(states)
    add_fused_lm_head(backbone.model)  # what trl's GRPO trainer does; without fused_lm_head the forward is unchanged
    with torch.no_grad():
        logp = backbone.token_logprobs(audio, ids, mask, target)
        inputs, offset = backbone.model_inputs(audio, ids, mask)
        assert offset == 0  # the audio sits on the placeholder positions
        logits = backbone.lm(**inputs).logits.float()
        labels = torch.full_like(ids, -100)
        labels[:, 1:] = target[:, :-1]
        fused = backbone.lm(**inputs, labels=labels, fused_lm_head=True).log_probs
        alone = [backbone.token_logprobs(backbone.audio([s]), *(t[i : i + 1, :n] for t in (ids, mask, target)))
                 for i, (s, n) in enumerate(zip(states, lengths))]
    direct = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0)[..., None])[..., 0].masked_fill(target < 0, 0)
    assert torch.allclose(logp, direct, atol=1e-5) and (logp[target >= 0] < 0).all()
    assert torch.allclose(fused, logp[:, :-1], atol=1e-5)
    assert [int((target[i] >= 0).sum()) for i in range(2)] == [len(backbone.completion_ids(t)) for t in texts]
    for i, row in enumerate(alone):  # right padding changes nothing
        assert torch.allclose(row[0], logp[i, : row.shape[1]], atol=1e-5)


def test_a_padded_batch_generates_what_single_clips_do(backbone, states):
    prompts = [backbone.prompt_ids(["Ponyo", "Google"], PromptConfig(), "en"),
               backbone.prompt_ids([], PromptConfig(), "en")]
    assert len(prompts[0]) != len(prompts[1])  # left padding in the batch
    for beams, n_best in ((1, 1), (2, 2)):
        batched = generate(backbone, states, prompts, beams, max_new_tokens=10, n_best=n_best)
        singles = [generate(backbone, [s], [p], beams, max_new_tokens=10, n_best=n_best)[0]
                   for s, p in zip(states, prompts)]
        assert batched == singles
    # the audio matters: each clip under the same prompt decodes differently
    same_prompt = generate(backbone, states, [prompts[1], prompts[1]], max_new_tokens=10)
    assert same_prompt[0] != same_prompt[1]
    ids = backbone.generate_ids(backbone.audio(states[:1]), torch.tensor([prompts[1]]), torch.ones(1, len(prompts[1])),
                                max_new_tokens=30, do_sample=True, num_return_sequences=4)
    assert not set(backbone.suppress) & {t for row in ids for t in row}  # no placeholder is ever generated


def test_save_load_round_trip_and_only_lora_trains(tiny_dir, states, tmp_path):
    model = build_audio_lm(tiny_dir, SMALL, seed=3)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".language_model." in n for n in trainable)
    tower, window = model.train().model.model.audio_tower, model.audio(states[:1])[0]
    assert tower.config.dropout > 0 and torch.equal(tower(window).last_hidden_state, tower(window).last_hidden_state)
    with torch.no_grad():
        for name, parameter in model.lm.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, 0.2)  # fresh LoRA is the identity: make it matter
    model.eval()
    prompt = model.prompt_ids(["Ponyo"], PromptConfig(), "en")
    ids, mask, target = model.teacher_forced([(prompt, "hello world")])
    model.save(tmp_path / "model", {"whisper": "unused", "stage": "sft"})
    meta = json.loads((tmp_path / "model" / "speechllm.json").read_text())
    assert meta["backbone"] == "audio_lm" and meta["audio_lm"] == str(tiny_dir)
    loaded = load_backbone(tmp_path / "model", "ignored-lm-path").eval()
    assert loaded.config == SMALL
    with torch.no_grad():
        before = model.token_logprobs(model.audio(states[:1]), ids, mask, target)
        after = loaded.token_logprobs(loaded.audio(states[:1]), ids, mask, target)
        base = build_audio_lm(tiny_dir, SMALL).eval().token_logprobs(model.audio(states[:1]), ids, mask, target)
    assert torch.equal(before, after) and not torch.allclose(before, base)


def test_bad_checkpoints_clips_and_settings_are_named(tiny_dir, backbone, states, tmp_path):
    from workbench.config import ConfigError, load_config
    from workbench.speechllm.options import SFTSpeechLLMConfig

    with pytest.raises(InputError, match="config.json missing"):
        build_audio_lm(tmp_path, SMALL)
    short = build_audio_lm(tiny_dir, AudioLMConfig(window_seconds=1.0))
    assert short.audio_tokens == 25 and short.render_prompt([], PromptConfig(), "en").count("<|AUDIO|>") == 25
    with pytest.raises(InputError, match="longer than audio_lm.window_seconds=1.0"):
        short.audio(states)
    with pytest.raises(InputError, match="log-mel features"):
        backbone.audio([torch.zeros(1500, 512)])  # Whisper encoder states
    with pytest.raises(InputError, match="none were given"):
        mel_features(None, ["x"])
    for overrides, named in (({"audio_lm.window_seconds": 31}, "window_seconds"),
                             ({"audio_lm.dtype": "int8"}, "dtype")):
        with pytest.raises(ConfigError, match=named):
            load_config(SFTSpeechLLMConfig, None, "sft_speechllm", overrides)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_speech_corpus(tmp_path_factory.mktemp("audio-lm-corpus"))


def test_sft_grpo_and_eval_on_the_audio_lm_backbone(corpus, tiny_dir):
    root = corpus
    common = ["--set", "tracking.backend=disk", "--set", f"tracking.uri={root / 'runs'}"]
    data = ["--manifest", str(root / "train.jsonl"), "--vocabulary", str(root / "words.txt")]  # no feature store
    sft = root / "sft"
    assert main(["sft_speechllm", *data, "--out", str(sft), *common, "--set", "backbone=audio_lm",
                 "--set", f"lm={tiny_dir}", "--set", "audio_lm.window_seconds=5", "--set", "audio_lm.lora_rank=4",
                 "--set", "loop.epochs=2", "--set", "loop.batch_size=2", "--set", "loop.warmup_steps=1",
                 "--set", "loop.learning_rate=0.001"]) == 0
    summary = json.loads((sft / "train.json").read_text())
    assert summary["steps"] == 2 and summary["utterances"] == 2 and summary["trainable_parameters"] > 0
    meta = json.loads((sft / "model" / "speechllm.json").read_text())
    assert meta["backbone"] == "audio_lm" and meta["audio_lm"] == str(tiny_dir)
    assert meta["config"]["window_seconds"] == 5.0

    grpo = root / "grpo"
    assert main(["grpo_speechllm", "--sft", str(sft / "model"), *data, "--out", str(grpo), *common,
                 "--set", "num_generations=2", "--set", "max_steps=2", "--set", "max_completion_length=12",
                 "--set", "learning_rate=0.01"]) == 0
    summary = json.loads((grpo / "train.json").read_text())
    assert summary["steps"] == 2 and summary["lora_tensors_changed"] > 0
    assert json.loads((grpo / "model" / "speechllm.json").read_text())["backbone"] == "audio_lm"

    out = root / "eval"
    assert main(["eval_contextual", "--manifest", str(root / "test.jsonl"), "--models", f"sft={sft / 'model'}",
                 f"grpo={grpo / 'model'}", "--rankings", str(root / "rankings.jsonl"), "--frames", str(root),
                 "--out", str(out), *common, "--set", "vanilla=null", "--set", "conditions=[NA, GT, top1]",
                 "--set", "joint_conditions=[top1]", "--set", "decoding.max_new_tokens=12",
                 "--set", "joint_decoding.max_new_tokens=12"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["models"]) == {"sft", "grpo"}
    assert set(metrics["models"]["grpo"]["greedy"]) == {"NA", "GT", "top1"}
    assert "top1" in metrics["models"]["sft"]["joint"]
    assert metrics["models"]["sft"]["greedy"]["GT"]["list_recall"] == 1.0
    hypotheses = [json.loads(line) for line in (out / "hypotheses.jsonl").read_text().splitlines()]
    assert len(hypotheses) == 2 * 4 * len(ROWS)
