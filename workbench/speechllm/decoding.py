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

from workbench.speechllm.backbone import SpeechBackbone, left_padded
from workbench.speechllm.prompts import PromptConfig


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


def generate(model: SpeechBackbone, states: Sequence[torch.Tensor], prompts: Sequence[list[int]], beam_size: int = 1,
             max_new_tokens: int = 48, n_best: int = 1) -> list[list[str]]:
    """The top ``n_best`` transcripts of each clip after its prompt ids."""
    if len(states) != len(prompts):
        raise ValueError(f"{len(states)} clips but {len(prompts)} prompts")
    ids, mask = left_padded(model.tokenizer.pad_token_id, prompts)
    with torch.no_grad():
        out = model.generate_ids(model.audio(states), ids, mask, max_new_tokens=max_new_tokens, do_sample=False,
                                 num_beams=max(beam_size, n_best), num_return_sequences=n_best)
    texts = [t.strip() for t in model.tokenizer.batch_decode(out, skip_special_tokens=True)]
    return [texts[i * n_best:(i + 1) * n_best] for i in range(len(states))]


@torch.no_grad()
def candidate_scores(model: SpeechBackbone, clip: torch.Tensor, prompt: list[int],
                     candidates: Sequence[str]) -> list[float]:
    """Mean log-probability per token of each candidate (+ end token) after ``prompt``, in one batch."""
    input_ids, mask, target = model.teacher_forced([(prompt, text) for text in candidates])
    audio = model.audio([clip] * len(candidates))
    logp = model.token_logprobs(audio, input_ids.to(model.device), mask.to(model.device), target.to(model.device))
    counts = (target >= 0).sum(dim=1).clamp(min=1).to(logp.device)
    return (logp.sum(dim=1) / counts).tolist()


def transcribe(model: SpeechBackbone, states: Sequence[torch.Tensor], lists: Sequence[Sequence[str]],
               options: DecodeOptions, prompts: PromptConfig = PromptConfig(),
               languages: Sequence[str | None] | None = None, progress=None) -> list[str]:
    """One transcript per clip under its biasing list (empty: no list) and language, batched;
    ``progress`` gets the number of clips done after each batch."""
    if len(states) != len(lists):
        raise ValueError(f"{len(states)} clips but {len(lists)} biasing lists")
    languages = list(languages) if languages is not None else [None] * len(states)
    rendered = [model.prompt_ids(words, prompts, lang) for words, lang in zip(lists, languages)]
    out: list[str] = []
    for first in range(0, len(states), options.batch_size):
        chunk = slice(first, first + options.batch_size)
        if options.joint:
            out += [joint_decode(model, s, p, model.prompt_ids((), prompts, lang), options) if words else
                    generate(model, [s], [p], options.beam_size, options.max_new_tokens)[0][0]
                    for s, p, words, lang in zip(states[chunk], rendered[chunk], lists[chunk], languages[chunk])]
        else:
            out += [n[0] for n in generate(model, states[chunk], rendered[chunk], options.beam_size,
                                           options.max_new_tokens)]
        if progress is not None:
            progress(len(states[chunk]))
    return out


def joint_decode(model: SpeechBackbone, clip: torch.Tensor, context_prompt: list[int], free_prompt: list[int],
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
