"""GRPO rewards of seed 001 §2.2.3 with trl's reward-function signature
``f(prompts, completions, completion_ids, **columns) -> list[float | None]``.

Both use the workbench's one normalization and tokenization (``workbench.metrics``), so a reward
agrees with the KER and WER the evaluation reports.

- **match reward**: for each candidate biasing word of the prompt's list, 1 when the word is in
  both the output and the reference, or in neither; 0 otherwise. Seed 001 defines it per word;
  a completion's reward is the mean over its list. An utterance without a list has no candidate
  word and gets ``None`` (trl skips it for this reward; the WER reward still applies).
- **WER reward**: ``1 - WER`` of the completion against the reference (word level, the same
  normalization as the ``evaluate`` stage). It goes below 0 when insertions outnumber the
  reference words; GRPO normalizes rewards within each group, so only the order matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from workbench.metrics import Reference, Scorer
from workbench.metrics.keywords import count_occurrences


@lru_cache(maxsize=1)
def _scorer() -> Scorer:
    return Scorer()


def _completion_text(completion) -> str:
    """trl passes plain strings, or chat messages for conversational prompts."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, dict))


def contains(scorer: Scorer, text_tokens: Sequence[str], word: str) -> bool:
    tokens = scorer.phrase_tokens(word)[0]
    return bool(tokens) and count_occurrences(text_tokens, tokens) > 0


def match_reward(completions, reference: Sequence[str], biasing_words: Sequence[Sequence[str]],
                 **_) -> list[float | None]:
    scorer = _scorer()
    rewards: list[float | None] = []
    for completion, ref, words in zip(completions, reference, biasing_words, strict=True):
        if not words:
            rewards.append(None)
            continue
        out_tokens = scorer.analyzer.analyse(_completion_text(completion)).mixed
        ref_tokens = scorer.analyzer.analyse(ref).mixed
        agree = [contains(scorer, out_tokens, w) == contains(scorer, ref_tokens, w) for w in words]
        rewards.append(sum(agree) / len(agree))
    return rewards


def wer_reward(completions, reference: Sequence[str], **_) -> list[float]:
    scorer = _scorer()
    rewards = []
    for index, (completion, ref) in enumerate(zip(completions, reference, strict=True)):
        alignment = scorer.score(Reference(str(index), ref), _completion_text(completion)).word
        errors = alignment.substitutions + alignment.deletions + alignment.insertions
        if alignment.reference_length == 0:  # an empty reference: 1 for an empty output, else 1 - insertions
            rewards.append(1.0 - float(errors))
        else:
            rewards.append(1.0 - errors / alignment.reference_length)
    return rewards


REWARDS = {"match": match_reward, "wer": wer_reward}
