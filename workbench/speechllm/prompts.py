"""Biasing prompts of the speech LLM (seed 001 §2.2.3, §3.1.1) and the evaluation conditions of
seed 000 Table 3 (NA: no list, GT: the oracle list, top-k: a retriever's first k words).

Training lists follow seed 001 §3.1.1: utterances with and without a list mixed 8:1 in favour of
no list; a list holds 1-10 words; about half the lists contain the utterance's true hotwords
(positive) and half only distractors (negative). Every draw comes from a ``random.Random`` seeded
by (seed, epoch, utterance id), so a rerun or a resumed run builds the same prompts.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workbench.errors import InputError

INSTRUCTION = "Transcribe the audio into text."
BIAS_INTRO = "These biasing words you may use:"
CONDITIONS_FIXED = ("NA", "GT")


@dataclass(frozen=True)
class PromptConfig:
    instruction: str = INSTRUCTION
    bias_intro: str = BIAS_INTRO
    unbiased_per_biased: float = 8.0  # seed 001 §3.1.1: 8:1 in favour of utterances without a list
    positive_share: float = 0.5  # lists holding the true hotwords vs only distractors (1:1)
    min_words: int = 1  # list length range of a training list (seed 001: 1-10)
    max_words: int = 10
    # seed 000 §4: a share of the lists simulate hotwords as 5-10 random 3-6-character n-grams of the
    # utterance's own transcript (0: seed 001's lists only)
    ngram_share: float = 0.0
    separator: str = ", "
    # replaces the chat template's default system turn (SmolLM2's costs ~20 tokens per sequence)
    system: str | None = "You transcribe speech."

    def __post_init__(self) -> None:
        if self.unbiased_per_biased < 0 or not 0 <= self.positive_share <= 1 or not 0 <= self.ngram_share <= 1:
            raise ValueError("prompts: unbiased_per_biased must be >= 0, positive_share and ngram_share in [0, 1]")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError(f"prompts: need 1 <= min_words <= max_words, got {self.min_words}..{self.max_words}")

    validate = __post_init__  # for callers that check a config they were given


def prompt_text(words: Sequence[str], config: PromptConfig = PromptConfig()) -> str:
    """The user turn: the instruction, plus the biasing list when there is one."""
    if not words:
        return config.instruction
    return f"{config.instruction} {config.bias_intro} {config.separator.join(words)}"


def render_chat(tokenizer, text: str, system: str | None = PromptConfig.system) -> str:
    """The prompt string the LM sees after the audio: its chat template with a generation prompt
    (a plain ``text\\n`` for tokenizers without a template)."""
    if getattr(tokenizer, "chat_template", None):
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return text + "\n"


def example_rng(seed: int, epoch: int, utt_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}/{epoch}/{utt_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class BiasingList:
    words: tuple[str, ...]
    kind: str  # "none" | "positive" (holds the true hotwords) | "negative" (distractors only) | "ngram" (seed 000)


NGRAM_ENTRIES = (5, 10)  # seed 000 §4: 5-10 simulated hotwords
NGRAM_CHARS = (3, 6)  # each a random 3-6-character n-gram of the transcript


def transcript_ngrams(text: str, rng: random.Random) -> tuple[str, ...]:
    """Seed 000's simulated hotwords: 5-10 random 3-6-character n-grams of ``text`` (spaces trimmed)."""
    entries: list[str] = []
    for _ in range(rng.randint(*NGRAM_ENTRIES)):
        size = min(rng.randint(*NGRAM_CHARS), len(text))
        start = rng.randrange(len(text) - size + 1)
        entry = text[start : start + size].strip()
        if entry and entry not in entries:
            entries.append(entry)
    return tuple(entries)


def training_list(hotwords: Sequence[str], vocabulary: Sequence[str], rng: random.Random,
                  config: PromptConfig = PromptConfig(), text: str = "") -> BiasingList:
    """One training utterance's list: none (probability u/(u+1)), else n-grams of ``text``
    (``ngram_share``), else positive or negative."""
    if rng.random() < config.unbiased_per_biased / (config.unbiased_per_biased + 1.0):
        return BiasingList((), "none")
    if config.ngram_share and text.strip() and rng.random() < config.ngram_share:
        return BiasingList(transcript_ngrams(text, rng), "ngram")
    own = {w.casefold() for w in hotwords}
    size = rng.randint(config.min_words, config.max_words)
    positive = bool(hotwords) and rng.random() < config.positive_share
    words = list(dict.fromkeys(hotwords))[:size] if positive else []
    pool = [w for w in vocabulary if w.casefold() not in own]
    need = max(0, size - len(words))
    words += rng.sample(pool, min(need, len(pool)))
    rng.shuffle(words)
    return BiasingList(tuple(words), "positive" if positive else "negative")


def retrieved_count(condition: str) -> int | None:
    """k of a ``top<k>`` condition; None for ``NA`` and ``GT``; a ValueError for anything else."""
    if condition in CONDITIONS_FIXED:
        return None
    if condition.startswith("top") and condition[3:].isdigit():
        return int(condition[3:])
    raise ValueError(f"unknown condition {condition!r}: use NA, GT or top<k> (e.g. top2)")


def condition_words(condition: str, hotwords: Sequence[str], retrieved: Sequence[str] | None) -> tuple[str, ...]:
    """The list of one evaluation condition: ``NA``, ``GT`` or ``top<k>`` (the retriever's first k)."""
    k = retrieved_count(condition)
    if condition == "NA":
        return ()
    if condition == "GT":
        return tuple(dict.fromkeys(hotwords))
    if retrieved is None:
        raise ValueError(f"condition {condition} needs retrieved hotwords (rankings) for this utterance")
    return tuple(retrieved[:k])


def rankings_by_id(rows: Sequence[Mapping], method: str, vocabulary: str | None = None,
                   source: str = "rankings") -> dict[str, list[str]]:
    """``eval_retrieval``'s rankings.jsonl rows of one method (and vocabulary) as id -> ranked words;
    a row of that method without an ``id`` or a ``top`` list is an ``InputError`` naming ``source``."""
    out: dict[str, list[str]] = {}
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise InputError(f"{source}: record {number} is not a JSON object")
        if row.get("method") != method or (vocabulary is not None and row.get("vocabulary") != vocabulary):
            continue
        if not isinstance(row.get("id"), str) or not isinstance(row.get("top"), list):
            raise InputError(f"{source}: record {number} has no 'id' string and 'top' list")
        out.setdefault(row["id"], list(row["top"]))
    return out


FORMAT_FIELDS = ("instruction", "bias_intro", "separator", "system")


def with_format_of(config: PromptConfig, saved: Mapping | None) -> PromptConfig:
    """``config`` with the prompt wording a model was trained on (its saved ``prompts``), so GRPO
    and evaluation ask the question the SFT model learned to answer."""
    import dataclasses

    if not saved:
        return config
    return dataclasses.replace(config, **{k: saved[k] for k in FORMAT_FIELDS if k in saved})
