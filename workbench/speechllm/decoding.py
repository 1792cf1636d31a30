"""Decoding the speech LLM: batched greedy/beam generation, teacher-forced scores of candidate
transcripts, and the joint beam search of seed 001 §2.2.3 (after Seed-ASR).

Joint beam search: a biasing list helps when it holds the spoken words and invites hallucination
when it does not. We decode the same audio twice, with the list (context-conditioned) and without
it (context-free), pool both N-best lists, score every candidate under both prompts by teacher
forcing, and keep the candidate with the best ``w * logp(y | audio, list) + (1 - w) * logp(y | audio)``
(length-normalized). A candidate only the list could explain loses unless the audio without the
list also finds it plausible. With an empty list it is exactly context-free decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from workbench.speechllm.model import SpeechLLM, teacher_forced_batch
from workbench.speechllm.prompts import PromptConfig, prompt_text, render_chat


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 1  # 1 = greedy
    max_new_tokens: int = 48  # our utterances are < 30 words
    batch_size: int = 8
    joint: bool = False  # joint beam search (context-free + context-conditioned candidates)
    joint_weight: float = 0.5  # w: weight of the context-conditioned score
    joint_n_best: int = 4  # candidates kept from each of the two beam searches

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("decoding: beam_size, max_new_tokens and batch_size must be >= 1")
        if not 0.0 <= self.joint_weight <= 1.0:
            raise ValueError(f"decoding.joint_weight must be in [0, 1], got {self.joint_weight}")
        if self.joint_n_best < 1:
            raise ValueError("decoding.joint_n_best must be >= 1")

    validate = __post_init__  # for callers that check options they were given


def _encode_prompts(model: SpeechLLM, texts: Sequence[str]):
    return model.tokenizer(list(texts), return_tensors="pt", padding=True, padding_side="left",
                           add_special_tokens=False)


@torch.no_grad()
def generate(model: SpeechLLM, states: Sequence[torch.Tensor], prompts: Sequence[str], beam_size: int = 1,
             max_new_tokens: int = 48, n_best: int = 1) -> list[list[str]]:
    """The top ``n_best`` transcripts of each clip under its rendered prompt string."""
    if len(states) != len(prompts):
        raise ValueError(f"{len(states)} clips but {len(prompts)} prompts")
    tokenizer = model.tokenizer
    enc = _encode_prompts(model, prompts)
    inputs = model.inputs(model.audio_embeddings(states), enc["input_ids"].to(model.device),
                          enc["attention_mask"].to(model.device))
    beams = max(beam_size, n_best)
    out = model.lm.generate(
        **inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=beams, num_return_sequences=n_best,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    texts = [t.strip() for t in tokenizer.batch_decode(out, skip_special_tokens=True)]
    return [texts[i * n_best:(i + 1) * n_best] for i in range(len(states))]


@torch.no_grad()
def candidate_scores(model: SpeechLLM, clip: torch.Tensor, prompt: str, candidates: Sequence[str]) -> list[float]:
    """Mean log-probability per token of each candidate (+ end of turn) after ``prompt``, in one batch."""
    tokenizer = model.tokenizer
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    input_ids, mask, target = teacher_forced_batch(tokenizer, [(prompt_ids, text) for text in candidates])
    audio = model.audio_embeddings([clip] * len(candidates))
    logp = model.token_logprobs(audio, input_ids.to(model.device), mask.to(model.device), target.to(model.device))
    counts = (target >= 0).sum(dim=1).clamp(min=1).to(logp.device)
    return (logp.sum(dim=1) / counts).tolist()


def transcribe(model: SpeechLLM, states: Sequence[torch.Tensor], lists: Sequence[Sequence[str]], options: DecodeOptions,
               prompts: PromptConfig = PromptConfig(), progress=None) -> list[str]:
    """One transcript per clip under its biasing list (empty: no list), batched; ``progress`` gets
    the number of clips done after each batch."""
    if len(states) != len(lists):
        raise ValueError(f"{len(states)} clips but {len(lists)} biasing lists")
    rendered = [render_chat(model.tokenizer, prompt_text(words, prompts), prompts.system) for words in lists]
    out: list[str] = []
    for first in range(0, len(states), options.batch_size):
        chunk = slice(first, first + options.batch_size)
        if options.joint:
            free = render_chat(model.tokenizer, prompt_text((), prompts), prompts.system)
            out += [joint_decode(model, s, p, free, options) if words else
                    generate(model, [s], [free], options.beam_size, options.max_new_tokens)[0][0]
                    for s, p, words in zip(states[chunk], rendered[chunk], lists[chunk])]
        else:
            out += [n[0] for n in generate(model, states[chunk], rendered[chunk], options.beam_size,
                                           options.max_new_tokens)]
        if progress is not None:
            progress(len(states[chunk]))
    return out


def joint_decode(model: SpeechLLM, clip: torch.Tensor, context_prompt: str, free_prompt: str,
                 options: DecodeOptions) -> str:
    """Joint beam search for one clip (see the module docstring)."""
    beams = max(options.beam_size, options.joint_n_best)
    pooled = generate(model, [clip, clip], [context_prompt, free_prompt], beams, options.max_new_tokens,
                      options.joint_n_best)
    candidates = list(dict.fromkeys(c for group in pooled for c in group))
    if len(candidates) == 1:
        return candidates[0]
    with_list = candidate_scores(model, clip, context_prompt, candidates)
    without = candidate_scores(model, clip, free_prompt, candidates)
    w = options.joint_weight
    combined = [w * a + (1 - w) * b for a, b in zip(with_list, without)]
    return candidates[max(range(len(candidates)), key=combined.__getitem__)]
