"""Speech LLM (issue 8): rewards, prompts, adapter shapes, SFT resume, GRPO through trl, joint
beam search, and the three stages end to end on tiny real models (a random 2-layer Llama with a
BPE tokenizer trained here; Whisper tiny.en's encoder states of the fixture clips)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from workbench.cli import main
from workbench.data.resume import resume_root
from workbench.rl.rewards import match_reward, wer_reward
from workbench.speechllm.backbone import load_backbone
from workbench.speechllm.decoding import DecodeOptions, generate, joint_decode, transcribe
from workbench.speechllm.model import FrameAdapter, SpeechLLMConfig, build_adapter_lm
from workbench.speechllm.prompts import (
    PromptConfig,
    condition_words,
    example_rng,
    prompt_text,
    rankings_by_id,
    training_list,
)
from workbench.speechllm.training import SFTExample, SFTLoopConfig, train_sft
from workbench.testing.dummies import tiny_causal_lm

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SMALL = SpeechLLMConfig(adapter_hidden=32, lora_rank=4, lora_alpha=8)


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory) -> Path:
    return tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


# --- rewards: case tables ---

@pytest.mark.parametrize("completion, reference, words, expected", [
    ("I took Xarelto today", "I took Xarelto today", ["Xarelto"], 1.0),  # in both
    ("I took it today", "I took Xarelto today", ["Xarelto"], 0.0),  # missed
    ("I took Xarelto today", "I took it today", ["Xarelto"], 0.0),  # hallucinated from the list
    ("I took it today", "I took it today", ["Xarelto"], 1.0),  # in neither: a correct rejection
    ("I took xarelto, today.", "I took Xarelto today", ["Xarelto", "Ozempic"], 1.0),  # normalized; distractor absent
    ("I took Xarelto today", "I took Xarelto today", ["Xarelto", "Ozempic", "Ponyo", "took it"], 1.0),
    ("", "I took Xarelto today", ["Xarelto", "Ozempic"], 0.5),  # empty output: misses Xarelto, rejects Ozempic
    ("Ozempic", "", ["Ozempic"], 0.0),  # empty reference, hallucinated word
    ("the pony o show", "the Ponyo show", ["Ponyo"], 0.0),  # word boundaries: no partial credit
    ("anything", "anything", [], None),  # no list: no match reward
])
def test_match_reward_cases(completion, reference, words, expected):
    assert match_reward([completion], [reference], [words]) == [expected]


@pytest.mark.parametrize("completion, reference, expected", [
    ("my daughter watches ponyo", "My daughter watches Ponyo.", 1.0),
    ("my daughter watches", "My daughter watches Ponyo.", 0.75),  # one deletion of four words
    ("", "My daughter watches Ponyo.", 0.0),  # empty output: WER 1
    ("a b c d e f g h", "one two", -3.0),  # 2 substitutions + 6 insertions over 2 words
    ("", "", 1.0),  # empty reference and output
    ("hello", "", 0.0),  # empty reference: one insertion
])
def test_wer_reward_cases(completion, reference, expected):
    assert wer_reward([completion], [reference]) == [pytest.approx(expected)]


def test_rewards_take_trl_keyword_arguments_and_chat_completions():
    out = match_reward(prompts=["p"], completions=[[{"role": "assistant", "content": "Ponyo"}]],
                       completion_ids=[[1]], reference=["Ponyo"], biasing_words=[["Ponyo"]], trainer_state=None)
    assert out == [1.0]


# --- prompts ---

def test_prompt_text_and_conditions():
    assert prompt_text([]) == "Transcribe the audio into text."
    assert prompt_text(["Ponyo", "Xarelto"]) == ("Transcribe the audio into text. "
                                                 "These biasing words you may use: Ponyo, Xarelto")
    assert condition_words("NA", ["Ponyo"], None) == ()
    assert condition_words("GT", ["Ponyo", "Ponyo", "Xarelto"], None) == ("Ponyo", "Xarelto")
    assert condition_words("top2", ["Ponyo"], ["a", "b", "c"]) == ("a", "b")
    with pytest.raises(ValueError, match="needs retrieved"):
        condition_words("top5", ["Ponyo"], None)
    with pytest.raises(ValueError, match="unknown condition"):
        condition_words("top", [], [])
    rows = [{"id": "u1", "method": "phonetic", "top": ["x", "y"]}, {"id": "u1", "method": "learned", "top": ["z"]}]
    assert rankings_by_id(rows, "learned") == {"u1": ["z"]}


def test_training_lists_follow_the_seed_ratios_and_are_seeded():
    vocabulary = [f"word{i}" for i in range(200)]
    config = PromptConfig()
    draws = [training_list(["Ponyo"], vocabulary, example_rng(0, 0, f"u{i}"), config) for i in range(3000)]
    kinds = [d.kind for d in draws]
    biased = len(draws) - kinds.count("none")
    assert abs(kinds.count("none") / len(draws) - 8 / 9) < 0.03  # 8:1 without a list
    assert abs(kinds.count("positive") / biased - 0.5) < 0.08  # positive:negative 1:1
    for d in draws:
        if d.kind == "none":
            assert d.words == ()
        else:
            assert 1 <= len(d.words) <= 10 and len(set(d.words)) == len(d.words)
            assert ("Ponyo" in d.words) == (d.kind == "positive")
    again = [training_list(["Ponyo"], vocabulary, example_rng(0, 0, f"u{i}"), config) for i in range(50)]
    assert again == draws[:50]  # same (seed, epoch, id): same list, same order
    other_epoch = [training_list(["Ponyo"], vocabulary, example_rng(0, 1, f"u{i}"), config) for i in range(50)]
    assert other_epoch != draws[:50]
    always = PromptConfig(unbiased_per_biased=0.0, min_words=3, max_words=3)
    lists = [training_list(["Ponyo"], vocabulary, random.Random(i), always) for i in range(100)]
    assert all(len(d.words) == 3 for d in lists)
    orders = {d.words.index("Ponyo") for d in lists if d.kind == "positive"}
    assert len(orders) > 1  # the true hotword is not always first


def test_seed_000_ngram_lists_are_pieces_of_the_transcript():
    text = "My daughter watches Ponyo every single weekend."
    config = PromptConfig(unbiased_per_biased=0.0, ngram_share=0.5)
    draws = [training_list(["Ponyo"], ["Totoro"], example_rng(0, 0, f"u{i}"), config, text) for i in range(400)]
    ngram = [d for d in draws if d.kind == "ngram"]
    assert 0.4 < len(ngram) / len(draws) < 0.6
    for d in ngram:
        assert 1 <= len(d.words) <= 10 and len(set(d.words)) == len(d.words)
        assert all(1 <= len(w) <= 6 and w in text for w in d.words)
    assert max(len(d.words) for d in ngram) >= 5
    assert all(d.kind != "ngram" for d in (training_list(["Ponyo"], ["Totoro"], random.Random(i), config, "")
                                          for i in range(50)))  # no transcript: seed 001's lists


# --- settings, validated on construction ---

@pytest.mark.parametrize("section, overrides, named", [
    ("grpo_speechllm", {"num_generations": 1}, "num_generations"),
    ("grpo_speechllm", {"reward_weights": [1.0]}, "one reward weight per reward"),
    ("grpo_speechllm", {"rewards": ["match", "bleu"], "reward_weights": [1, 1]}, "unknown ['bleu']"),
    ("grpo_speechllm", {"max_train_utterances": 0}, "max_train_utterances"),
    ("grpo_speechllm", {"prompts.min_words": 0}, "min_words"),
    ("sft_speechllm", {"architecture.lora_rank": 0}, "lora_rank"),
    ("sft_speechllm", {"loop.batch_size": 0}, "batch_size"),
    ("sft_speechllm", {"prompts.ngram_share": 1.5}, "ngram_share"),
    ("sft_speechllm", {"backbone": "qwen"}, "backbone must be one of"),
    ("sft_speechllm", {"whisper.prompt_style": "chat"}, "prompt_style"),
    ("eval_contextual", {"conditions": ["NA", "top"]}, "unknown condition 'top'"),
    ("eval_contextual", {"joint_conditions": ["GT", "GT"]}, "listed twice"),
    ("eval_contextual", {"conditions": [], "joint_conditions": []}, "nothing to evaluate"),
    ("eval_contextual", {"joint_decoding.joint_weight": 1.5}, "joint_weight"),
])
def test_bad_settings_are_config_errors_naming_the_field(section, overrides, named):
    from workbench.config import ConfigError, load_config
    from workbench.rl.options import GRPOSpeechLLMConfig
    from workbench.speechllm.options import EvalContextualConfig, SFTSpeechLLMConfig

    config = {"sft_speechllm": SFTSpeechLLMConfig, "grpo_speechllm": GRPOSpeechLLMConfig,
              "eval_contextual": EvalContextualConfig}[section]
    with pytest.raises(ConfigError, match=re.escape(named)):
        load_config(config, None, section, overrides)


def test_repo_params_load_into_the_speech_llm_configs():
    from conftest import REPO
    from workbench.config import load_config
    from workbench.rl.options import GRPOSpeechLLMConfig
    from workbench.speechllm.options import EvalContextualConfig, SFTSpeechLLMConfig

    for config, section in ((SFTSpeechLLMConfig, "sft_speechllm"), (GRPOSpeechLLMConfig, "grpo_speechllm"),
                            (EvalContextualConfig, "eval_contextual")):
        loaded = load_config(config, REPO / "params.yaml", section)
        assert isinstance(loaded, config) and "${" not in loaded.lm


def test_evaluation_runs_and_rankings_need():
    from workbench.speechllm.options import EvalContextualConfig

    config = EvalContextualConfig(conditions=("NA", "top2"), joint_conditions=("GT",))
    assert [(c, d) for c, d, _ in config.runs] == [("NA", "greedy"), ("top2", "greedy"), ("GT", "joint")]
    assert config.runs[2][2].joint and config.needs_rankings
    assert not EvalContextualConfig(conditions=("NA", "GT"), joint_conditions=()).needs_rankings


# --- evaluation: models, rankings, table ---

def test_models_argument_errors_are_config_errors():
    from workbench.errors import ConfigError
    from workbench.speechllm.evaluation import parse_models

    assert parse_models(["sft=a/b", "grpo=c"]) == {"sft": Path("a/b"), "grpo": Path("c")}
    for items, named in ((["sft"], "NAME=DIR"), (["=dir"], "NAME=DIR"), (["a=x", "a=y"], "a given twice")):
        with pytest.raises(ConfigError, match=named):
            parse_models(items)


def test_rankings_errors_name_the_file(tmp_path):
    from workbench.data.manifest import Utterance
    from workbench.errors import ConfigError, InputError
    from workbench.speechllm.evaluation import read_rankings
    from workbench.speechllm.options import EvalContextualConfig

    config = EvalContextualConfig(conditions=("NA", "top1"), joint_conditions=())
    utterances = [Utterance("u1", "a.wav", 1.0, "take Xarelto", "en", "test", ("Xarelto",)),
                  Utterance("u2", "b.wav", 1.0, "nothing", "en", "test")]
    assert read_rankings(None, EvalContextualConfig(conditions=("NA", "GT"), joint_conditions=()), utterances) == {}
    with pytest.raises(ConfigError, match="--rankings"):
        read_rankings(None, config, utterances)
    path = tmp_path / "rankings.jsonl"
    path.write_text(json.dumps({"id": "u1", "method": "learned", "top": ["Xarelto"]}) + "\n")
    with pytest.raises(InputError, match="no rows of method 'phonetic'"):
        read_rankings(path, config, utterances)
    path.write_text(json.dumps({"id": "u2", "method": "phonetic", "top": ["Ozempic"]}) + "\n")
    with pytest.raises(InputError, match=r"no ranking for 1 test utterance\(s\) with hotwords, e.g. \['u1'\]"):
        read_rankings(path, config, utterances)
    path.write_text(json.dumps({"method": "phonetic", "top": ["Ozempic"]}) + "\n")
    with pytest.raises(InputError, match="rankings.jsonl: record 1 has no 'id'"):
        read_rankings(path, config, utterances)
    path.write_text(json.dumps({"id": "u1", "method": "phonetic", "top": ["Ozempic", "Xarelto"]}) + "\n")
    assert read_rankings(path, config, utterances) == {"u1": ["Ozempic", "Xarelto"]}


def test_contextual_results_as_metrics_hypotheses_and_one_table_per_model():
    from workbench.metrics.intervals import UtteranceRatios
    from workbench.speechllm.evaluation import ConditionResult, ContextualEvaluation

    def scores(wer, recall):
        return {"wer": wer, "cer": 0.1, "b_wer": 0.2, "u_wer": 0.05, "u_cer": 0.04, "ker": 0.5, "sacc": 0.25,
                "keywords": 2.0, "list_recall": recall, "seconds_per_utterance": 0.3}

    none = UtteranceRatios(("u1", "u2"), {})
    evaluation = ContextualEvaluation(2, "phonetic", "r.jsonl", [
        ConditionResult("sft", "NA", "greedy", scores(0.3, None), [{"id": "u1"}], none),
        ConditionResult("sft", "top2", "greedy", scores(0.2, 0.5), [{"id": "u2"}], none),
        ConditionResult("sft", "top2", "joint", scores(0.1, 0.5), [], none),
        ConditionResult("grpo", "GT", "greedy", scores(0.123456, 1.0), [{"id": "u3"}], none),
    ])
    metrics = evaluation.metrics()
    assert list(metrics["models"]) == ["sft", "grpo"] and list(metrics["models"]["sft"]) == ["greedy", "joint"]
    assert metrics["models"]["sft"]["greedy"]["top2"]["wer"] == 0.2 and metrics["utterances"] == 2
    assert [h["id"] for h in evaluation.hypotheses()] == ["u1", "u2", "u3"]
    assert evaluation.results[0].tracked_metrics()["sft/greedy/NA/wer"] == 0.3
    assert "sft/greedy/NA/list_recall" not in evaluation.results[0].tracked_metrics()  # a gap is not logged
    header = "| condition | decoding | recall | WER | CER | B-WER | U-WER | U-CER | KER | SACC |\n"
    rule = "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    assert evaluation.markdown() == (
        "### sft\n\n" + header + rule
        + "| NA | greedy | – | 30.00 | 10.00 | 20.00 | 5.00 | 4.00 | 50.00 | 25.00 |\n"
        + "| top2 | greedy | 50.00 | 20.00 | 10.00 | 20.00 | 5.00 | 4.00 | 50.00 | 25.00 |\n"
        + "| top2 | joint | 50.00 | 10.00 | 10.00 | 20.00 | 5.00 | 4.00 | 50.00 | 25.00 |\n"
        + "\n### grpo\n\n" + header + rule
        + "| GT | greedy | 100.00 | 12.35 | 10.00 | 20.00 | 5.00 | 4.00 | 50.00 | 25.00 |\n")


def test_contextual_scores_keep_per_utterance_ratios_and_intervals():
    """Each pass's rates per utterance sum exactly to its scores; intervals sit beside the metrics;
    ratios.json carries every pass under its logged name and reads back."""
    from workbench.metrics import Reference, Scorer
    from workbench.metrics.intervals import UtteranceRatios
    from workbench.metrics.options import IntervalConfig
    from workbench.speechllm.evaluation import (
        METRICS,
        ConditionResult,
        ContextualEvaluation,
        condition_scores,
        list_recall_ratios,
        recall_at,
    )

    references = [Reference("u1", "take Xarelto and Ozempic", hotwords=("Xarelto", "Ozempic")),
                  Reference("u2", "call Totoro now", hotwords=("Totoro",)),
                  Reference("u3", "nothing special here")]
    gold = [list(r.hotwords) for r in references]
    lists = [("xarelto", "Wegovy"), ("Totoro",), ()]
    assert [a.tolist() for a in list_recall_ratios(gold, lists)] == [[1, 1, 0], [2, 1, 0]]
    assert recall_at(gold, lists) == 2 / 3 and recall_at([[], []], [(), ()]) is None
    scorer, config = Scorer(), IntervalConfig(resamples=200, seed=3)
    results = []
    for condition, texts, words in (("NA", ["take the reto and ozempic", "call totoro now", "nothing here"], None),
                                    ("top2", ["take Xarelto and Ozempic", "call toto now", "nothing special here"],
                                     lists)):
        scores, ratios = condition_scores(scorer, references, texts, gold, words, config)
        assert ratios.ids == ("u1", "u2", "u3")
        assert set(ratios.metrics) == set(METRICS) | ({"list_recall"} if words else set())
        for name, (numerator, denominator) in ratios.metrics.items():
            assert numerator.sum() / denominator.sum() == scores[name], name  # exactly the reported rate
            assert scores[f"{name}_ci_lo"] <= scores[name] <= scores[f"{name}_ci_hi"], name
        results.append(ConditionResult("sft", condition, "greedy", scores, [], ratios))
    assert results[0].scores["list_recall"] is None and "list_recall_ci_lo" not in results[0].scores
    assert results[1].scores["list_recall"] == 2 / 3
    tracked = results[1].tracked_metrics()
    ker = "sft/greedy/top2/ker"
    assert tracked[f"{ker}_ci_lo"] <= tracked[ker] <= tracked[f"{ker}_ci_hi"]
    evaluation = ContextualEvaluation(3, "phonetic", None, results)
    merged = evaluation.ratios()
    assert {"sft/greedy/NA/ker", "sft/greedy/top2/ker", "sft/greedy/top2/list_recall"} <= set(merged.metrics)
    back = UtteranceRatios.from_json(json.loads(json.dumps(merged.to_json())), "ratios.json")
    assert back.ids == merged.ids and set(back.metrics) == set(merged.metrics)
    for name, (numerator, denominator) in merged.metrics.items():
        assert back.metrics[name][0].tolist() == numerator.tolist()
        assert back.metrics[name][1].tolist() == denominator.tolist()
    # the merged ratios give each pass's own intervals (same utterances, same seed)
    intervals = merged.intervals(config)
    assert intervals["sft/greedy/top2/wer"].lo == results[1].scores["wer_ci_lo"]
    assert evaluation.metrics()["models"]["sft"]["greedy"]["NA"]["ker_ci_hi"] == results[0].scores["ker_ci_hi"]
    row = next(line for line in evaluation.markdown().splitlines() if line.startswith("| top2 |"))
    with_interval = [k for k in ("list_recall", *METRICS) if f"{k}_ci_lo" in results[1].scores]
    assert row.startswith("| top2 | greedy | 66.67 [") and row.count(" [") == len(with_interval) > 1
    assert ContextualEvaluation(0, "phonetic", None).ratios().to_json()["ids"] == []


# --- model ---

def test_adapter_shapes_and_audio_prefix(lm_dir):
    adapter = FrameAdapter(16, 24, SpeechLLMConfig(downsample=2, adapter_hidden=8))
    assert adapter(torch.randn(7, 16)).shape == (4, 24)  # 7 frames -> ceil(7/2) positions
    assert adapter(torch.randn(8, 16)).shape == (4, 24)
    model = build_adapter_lm(lm_dir, 16, SMALL).eval()
    audio, mask = model.audio([torch.randn(5, 16), torch.randn(12, 16)])
    assert audio.shape == (2, 6, model.lm.config.hidden_size) and mask.tolist()[0] == [1, 1, 1, 0, 0, 0]
    ids = torch.tensor([[0, 5, 6], [7, 8, 9]])
    inputs, offset = model.model_inputs((audio, mask), ids, torch.tensor([[0, 1, 1], [1, 1, 1]]))
    assert offset == 6
    assert inputs["inputs_embeds"].shape == (2, 9, model.lm.config.hidden_size)
    assert inputs["position_ids"][0].tolist() == [0, 1, 2, 2, 2, 2, 2, 3, 4]  # pads do not advance positions
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("adapter.") for n in trainable) and any("lora_" in n for n in trainable)
    assert not any("embed_tokens" in n for n in trainable)


def test_padded_batch_generates_what_single_clips_do(lm_dir):
    model = build_adapter_lm(lm_dir, 16, SMALL).eval()
    torch.manual_seed(1)
    states = [torch.randn(6, 16), torch.randn(15, 16)]
    prompts = [model.prompt_ids(words, PromptConfig(), None) for words in ([], ["hello", "fox"])]
    batched = generate(model, states, prompts, max_new_tokens=6)
    singles = [generate(model, [s], [p], max_new_tokens=6)[0] for s, p in zip(states, prompts)]
    assert batched == singles


def test_save_and_load_round_trip(lm_dir, tmp_path):
    model = build_adapter_lm(lm_dir, 16, SMALL).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()  # LoRA B starts at zero: make the adapter matter
    model.save(tmp_path / "m")
    loaded = load_backbone(tmp_path / "m", lm_dir).eval()
    clip = torch.randn(9, 16)
    prompt = model.prompt_ids(["fox"], PromptConfig(), None)
    assert generate(model, [clip], [prompt], max_new_tokens=5) == generate(loaded, [clip], [prompt], max_new_tokens=5)


def test_sft_continues_from_a_saved_model(lm_dir, tmp_path):
    from workbench.errors import ConfigError
    from workbench.speechllm.options import SFTSpeechLLMConfig
    from workbench.speechllm.sft import build_backbone

    pretrained = build_adapter_lm(lm_dir, 16, SMALL, seed=5)
    with torch.no_grad():
        for name, p in pretrained.named_parameters():
            if "lora_B" in name:
                p.normal_()
    pretrained.save(tmp_path / "asr")
    config = SFTSpeechLLMConfig(backbone="adapter_lm", lm=str(lm_dir), architecture=SMALL, init=str(tmp_path / "asr"))
    model = build_backbone(config, 16)
    saved = dict(pretrained.named_parameters())
    for name, p in model.named_parameters():
        if name in saved and ("lora_" in name or name.startswith("adapter.")):
            assert torch.equal(p, saved[name]) and p.requires_grad, name
    with pytest.raises(ConfigError, match="is a adapter_lm model, not backbone whisper"):
        build_backbone(SFTSpeechLLMConfig(init=str(tmp_path / "asr")), 16)


def test_joint_beam_search_falls_back_to_context_free_without_a_list(lm_dir):
    model = build_adapter_lm(lm_dir, 16, SMALL).eval()
    states = [torch.randn(8, 16), torch.randn(10, 16)]
    options = DecodeOptions(beam_size=2, max_new_tokens=6, joint=True, joint_n_best=2)
    plain = DecodeOptions(beam_size=2, max_new_tokens=6)
    assert transcribe(model, states, [(), ()], options) == transcribe(model, states, [(), ()], plain)
    # with a list, the choice is one of the pooled candidates of the two beam searches
    free = model.prompt_ids([], PromptConfig(), None)
    context = model.prompt_ids(["hello", "world"], PromptConfig(), None)
    pooled = {c for g in generate(model, [states[0]] * 2, [context, free], 2, 6, 2) for c in g}
    assert joint_decode(model, states[0], context, free, options) in pooled
    with pytest.raises(ValueError, match="joint_weight"):
        DecodeOptions(joint_weight=1.5).validate()


def test_sft_resume_replays_the_uninterrupted_run(lm_dir, tmp_path):
    examples = [SFTExample(f"u{i}", f"hello world {i}", ("hello",) if i % 2 else ()) for i in range(6)]
    states = {e.id: torch.randn(6 + i, 16, generator=torch.Generator().manual_seed(i)) for i, e in enumerate(examples)}
    vocabulary = ["fox", "dog", "lazy", "brown"]
    loop = SFTLoopConfig(epochs=2, batch_size=2, checkpoint_every=1, warmup_steps=1, learning_rate=1e-2)
    prompts = PromptConfig(unbiased_per_biased=1.0)

    def fresh():
        return build_adapter_lm(lm_dir, 16, SMALL, seed=3)

    whole = fresh()
    losses: list[float] = []
    resumed_at: list[int] = []
    assert train_sft(whole, examples, states, vocabulary, loop, tmp_path / "a", prompts,
                     log_metrics=lambda m, s: losses.append(m["loss"]), on_resume=resumed_at.append) == 6
    assert losses[-1] < losses[0] and resumed_at == []
    interrupted = fresh()
    assert train_sft(interrupted, examples, states, vocabulary, loop, tmp_path / "b", prompts, stop_after_steps=2) == 2
    resumed = fresh()
    assert train_sft(resumed, examples, states, vocabulary, loop, tmp_path / "b", prompts,
                     on_resume=resumed_at.append) == 6
    assert resumed_at == [2]
    for (name, a), (_, b) in zip(whole.named_parameters(), resumed.named_parameters()):
        if a.requires_grad:
            assert torch.allclose(a, b, atol=1e-6), name


# --- GRPO through trl ---

def test_two_grpo_steps_change_lora_and_log_both_rewards(lm_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOConfig

    from workbench.rl.grpo import SpeechGRPOTrainer, grpo_rows

    model = build_adapter_lm(lm_dir, 16, SMALL)
    # an empty reference makes 1 - WER count the sampled words: rewards differ within a group
    examples = [SFTExample("a", "", ()), SFTExample("b", "the quick fox", ("fox",))]
    states = {"a": torch.randn(9, 16), "b": torch.randn(14, 16)}
    lists = [["hello", "dog"], ["brown"]]
    prompts = [model.render_prompt(w, PromptConfig(), None) for w in lists]
    adapter_before = {n: p.detach().clone() for n, p in model.adapter.named_parameters()}
    lora_before = {n: p.detach().clone() for n, p in model.lm.named_parameters() if "lora_" in n}
    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=6, num_generations=3,
                      max_completion_length=10, max_steps=2, learning_rate=1e-2, beta=0.04, logging_steps=1,
                      report_to="none", use_cpu=True, bf16=False, disable_tqdm=True, save_strategy="no")
    trainer = SpeechGRPOTrainer(model, states, reward_funcs=[match_reward, wer_reward], args=args,
                                train_dataset=Dataset.from_list(grpo_rows(examples, lists, prompts)))
    trainer.train()
    # trl keeps a frozen copy of an existing adapter as the KL reference ("ref"); only ours must move
    current = dict(model.lm.named_parameters())
    changed = [n for n in lora_before if not torch.equal(lora_before[n], current[n].detach())]
    assert changed
    assert all(torch.equal(adapter_before[n], p) for n, p in model.adapter.named_parameters())  # adapter frozen
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert len(logs) == 2
    for entry in logs:
        assert "rewards/match_reward/mean" in entry and "rewards/wer_reward/mean" in entry
    assert logs[1]["kl"] > 0  # the reference (LoRA disabled) and the policy differ after one step


# --- the stages end to end ---

@pytest.fixture(scope="module")
def staged(tmp_path_factory, whisper_tiny_en_path, lm_dir):
    """Fixture clips, a real frame store (tiny.en encoder), hotword lists."""
    root = tmp_path_factory.mktemp("speechllm-stages")
    shutil.copytree(FIXTURES / "audio", root / "audio")
    rows = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]
    (root / "train.jsonl").write_text("".join(json.dumps({**r, "split": "train"}) + "\n" for r in rows))
    (root / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    frames = root / "frames"
    assert main(["encode", "--layout", "own", str(root / "train.jsonl"), str(root / "test.jsonl"), "--out", str(frames),
                 "--set", f"model={whisper_tiny_en_path}"]) == 0
    (root / "words.txt").write_text("Totoro\nSpiriva\nWegovy\nXarelto\nOzempic\n")
    (root / "rankings.jsonl").write_text(
        json.dumps({"id": "cmn_eng-0044", "method": "phonetic", "gold": ["Google"],
                    "top": ["Google", "Totoro", "Wegovy"]}) + "\n"
        + json.dumps({"id": "en_entities-0101", "method": "phonetic", "gold": ["Ponyo"], "top": ["Totoro", "Ponyo"]})
        + "\n")
    return root


def test_encoder_states_refuse_a_store_they_cannot_use(staged, whisper_tiny_en_path, tmp_path):
    from workbench.errors import InputError, MissingInputError
    from workbench.speechllm.data import encoder_states

    root = staged
    states = encoder_states(root / "frames", whisper_tiny_en_path, ["cmn_eng-0044"])
    assert states["cmn_eng-0044"].dtype == torch.float32 and states["cmn_eng-0044"].shape[-1] == 384
    with pytest.raises(MissingInputError, match="nowhere"):
        encoder_states(tmp_path / "nowhere", whisper_tiny_en_path, ["cmn_eng-0044"])
    below = tmp_path / "below"
    assert main(["encode", "--layout", "own", "--trainable-layers", "1", str(root / "test.jsonl"), "--out", str(below),
                 "--set", f"model={whisper_tiny_en_path}"]) == 0
    with pytest.raises(InputError, match="below the top 1 encoder block"):
        encoder_states(below, whisper_tiny_en_path, ["cmn_eng-0044"])


def _stage_settings(root: Path, whisper: Path, lm: Path) -> list[str]:
    return ["--set", f"lm={lm}", "--set", "tracking.backend=disk", "--set", f"tracking.uri={root / 'runs'}"]


def test_sft_grpo_eval_stages_end_to_end(staged, whisper_tiny_en_path, lm_dir):
    root = staged
    common = _stage_settings(root, whisper_tiny_en_path, lm_dir)
    sft = root / "sft"
    assert main(["sft_speechllm", "--manifest", str(root / "train.jsonl"), "--vocabulary", str(root / "words.txt"),
                 "--frames", str(root / "frames"), "--out", str(sft), *common, "--set", f"model={whisper_tiny_en_path}",
                 "--set", "backbone=adapter_lm", "--set", "architecture.adapter_hidden=32",
                 "--set", "architecture.lora_rank=4", "--set", "loop.epochs=2", "--set", "loop.batch_size=2",
                 "--set", "loop.warmup_steps=1"]) == 0
    summary = json.loads((sft / "train.json").read_text())
    assert summary["utterances"] == 2 and summary["steps"] == 2 and summary["resumed_from_step"] == 0
    assert not resume_root(sft).exists()  # done: the resume state is gone

    grpo = root / "grpo"
    assert main(["grpo_speechllm", "--sft", str(sft / "model"), "--manifest", str(root / "train.jsonl"),
                 "--vocabulary", str(root / "words.txt"), "--frames", str(root / "frames"), "--out", str(grpo), *common,
                 "--set", "num_generations=2", "--set", "prompts_per_step=1", "--set", "max_steps=2",
                 "--set", "max_completion_length=6", "--set", "learning_rate=0.01"]) == 0
    summary = json.loads((grpo / "train.json").read_text())
    assert summary["steps"] == 2 and summary["lora_tensors_changed"] > 0
    assert "rewards/match_reward/mean" in summary["last"] and "rewards/wer_reward/mean" in summary["last"]

    out = root / "eval"
    assert main(["eval_contextual", "--manifest", str(root / "test.jsonl"), "--models", f"sft={sft / 'model'}",
                 f"grpo={grpo / 'model'}", "--rankings", str(root / "rankings.jsonl"), "--frames", str(root / "frames"),
                 "--out", str(out), *common, "--set", "vanilla=null", "--set", "conditions=[NA, GT, top1, top2]",
                 "--set", "joint_conditions=[top2]",
                 "--set", "decoding.max_new_tokens=6", "--set", "joint_decoding.max_new_tokens=6",
                 "--set", "joint_decoding.beam_size=2", "--set", "joint_decoding.joint_n_best=2"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    for name in ("sft", "grpo"):
        greedy = metrics["models"][name]["greedy"]
        assert set(greedy) == {"NA", "GT", "top1", "top2"} and "top2" in metrics["models"][name]["joint"]
        assert greedy["GT"]["list_recall"] == 1.0 and greedy["NA"]["list_recall"] is None
        assert greedy["top1"]["list_recall"] == 0.5 and greedy["top2"]["list_recall"] == 1.0
        for row in greedy.values():
            assert 0.0 <= row["ker"] <= 1.0 and row["keywords"] == 2.0
            assert row["ker_ci_lo"] <= row["ker"] <= row["ker_ci_hi"]
    from workbench.metrics.intervals import UtteranceRatios

    ratios = UtteranceRatios.from_json(json.loads((out / "ratios.json").read_text()), "ratios.json")
    assert ratios.ids == ("cmn_eng-0044", "en_entities-0101")
    assert {"sft/greedy/NA/ker", "grpo/joint/top2/ker", "sft/greedy/top1/list_recall"} <= set(ratios.metrics)
    assert "sft/greedy/NA/list_recall" not in ratios.metrics
    for name, (numerator, denominator) in ratios.metrics.items():
        model, decoding, condition, metric = name.split("/")
        if denominator.sum():
            assert numerator.sum() / denominator.sum() == metrics["models"][model][decoding][condition][metric]
    hypotheses = [json.loads(line) for line in (out / "hypotheses.jsonl").read_text().splitlines()]
    assert len(hypotheses) == 2 * 2 * 5
    assert {tuple(h["list"]) for h in hypotheses if h["condition"] == "top1"} == {("Google",), ("Totoro",)}
    assert "| GT | greedy | 100.00 [100.00, 100.00] |" in (out / "table.md").read_text()


def _one_epoch_sft(root: Path, whisper: Path, out: Path, settings: list[str]) -> list[str]:
    return ["sft_speechllm", "--manifest", str(root / "train.jsonl"), "--vocabulary", str(root / "words.txt"),
            "--frames", str(root / "frames"), "--out", str(out), *settings, "--set", f"model={whisper}",
            "--set", "backbone=adapter_lm", "--set", "architecture.adapter_hidden=32",
            "--set", "architecture.lora_rank=4", "--set", "loop.epochs=1"]


def test_grpo_crash_ends_the_mlflow_run_failed(staged, whisper_tiny_en_path, lm_dir, tmp_path, monkeypatch, capsys):
    from mlflow.tracking import MlflowClient

    from workbench.rl.grpo import SpeechGRPOTrainer

    root = staged
    sft = tmp_path / "sft"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = ["--set", f"lm={lm_dir}", "--set", f"tracking.uri={uri}"]
    assert main(_one_epoch_sft(root, whisper_tiny_en_path, sft, settings)) == 0
    grpo = ["grpo_speechllm", "--sft", str(sft / "model"), "--manifest", str(root / "train.jsonl"),
            "--vocabulary", str(root / "words.txt"), "--frames", str(root / "frames"), "--out", str(tmp_path / "g"),
            *settings]
    # a bad config is refused before any run starts: one line, exit 2
    assert main([*grpo, "--set", "reward_weights=[1.0]"]) == 2
    assert "one reward weight per reward" in capsys.readouterr().err

    def crash(self, **kwargs):
        raise RuntimeError("trainer crashed")

    monkeypatch.setattr(SpeechGRPOTrainer, "train", crash)
    with pytest.raises(RuntimeError, match="trainer crashed"):
        main([*grpo, "--set", "num_generations=2", "--set", "max_steps=1"])
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("speechllm").experiment_id])
    by_name = {r.info.run_name: r.info.status for r in runs}
    assert by_name == {"sft": "FINISHED", "grpo": "FAILED"}


def test_grpo_resumes_after_kill(staged, whisper_tiny_en_path, lm_dir, tmp_path):
    root = staged
    sft = tmp_path / "sft"
    settings = ["--set", f"lm={lm_dir}", "--set", "tracking.backend=disk", "--set", f"tracking.uri={tmp_path / 'runs'}"]
    assert main(_one_epoch_sft(root, whisper_tiny_en_path, sft, settings)) == 0
    out = tmp_path / "grpo"
    command = [sys.executable, "-m", "workbench", "grpo_speechllm", "--sft", str(sft / "model"), "--manifest",
               str(root / "train.jsonl"), "--vocabulary", str(root / "words.txt"), "--frames", str(root / "frames"),
               "--out", str(out), *settings, "--set", "num_generations=2", "--set", "prompts_per_step=1",
               "--set", "max_steps=16", "--set", "save_steps=2", "--set", "max_completion_length=6"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not list(resume_root(out).glob("*/checkpoints/checkpoint-*/trainer_state.json")):
        assert process.poll() is None, "GRPO ended before its first checkpoint"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "model").exists()
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    summary = json.loads((out / "train.json").read_text())
    assert summary["resumed_from_step"] >= 2 and summary["steps"] == 16
    assert not resume_root(out).exists()


def test_a_checkpoint_cut_off_mid_write_is_skipped(tmp_path):
    from workbench.rl.grpo import last_complete_checkpoint

    for step, complete in ((2, True), (4, True), (6, False)):
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        (path / "optimizer.pt").write_bytes(b"x")
        if complete:
            (path / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text('{"global_step"')  # cut off inside the JSON
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-2"]
    assert last_complete_checkpoint(tmp_path / "none") is None


def test_sft_data_parallel_with_accelerate_launch(staged, whisper_tiny_en_path, lm_dir, tmp_path):
    """Two CPU processes (gloo) under `accelerate launch`: both ranks end with identical weights,
    and only rank 0 logs a run and writes outputs. (`--multi_gpu` is the launcher that spawns the
    processes; on a machine without CUDA the trainer's Accelerator(cpu=True) makes them MULTI_CPU
    with gloo. `--cpu --num_processes 2` starts a single process in accelerate 1.15.)"""
    root = staged
    out = tmp_path / "sft"
    runs = tmp_path / "runs"
    command = [str(Path(sys.executable).parent / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
               "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "workbench", "sft_speechllm",
               "--manifest", str(root / "train.jsonl"), "--vocabulary", str(root / "words.txt"),
               "--frames", str(root / "frames"), "--out", str(out), "--set", f"lm={lm_dir}",
               "--set", f"model={whisper_tiny_en_path}", "--set", "backbone=adapter_lm",
               "--set", "architecture.adapter_hidden=32", "--set", "architecture.lora_rank=4", "--set", "loop.epochs=2",
               "--set", "loop.batch_size=2", "--set", "loop.warmup_steps=1", "--set", "loop.learning_rate=0.01",
               "--set", "tracking.backend=disk", "--set", f"tracking.uri={runs}"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "train.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == 2
    first, second = summary["rank_weight_digests"]
    assert first == second  # the same update on both ranks
    assert len([p for p in (runs / "speechllm").iterdir() if p.is_dir()]) == 1  # one run logged, by rank 0
    from workbench.speechllm.sft import weights_digest

    untrained = build_adapter_lm(lm_dir, 384, SpeechLLMConfig(adapter_hidden=32, lora_rank=4), seed=0)
    assert weights_digest(untrained) != first  # the two ranks trained (and agree), not both untouched
