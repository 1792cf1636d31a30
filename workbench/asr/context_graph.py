"""Hotword (contextual) biasing for Whisper decoding with an Aho-Corasick trie, as icefall and WeNet do.

A hotword list becomes a trie of token ids with failure links. Decoding walks it one token at a time:
a token that continues a hotword prefix earns a bonus, a partial match that breaks off has its bonus
taken back (so biasing cannot reward a near miss), and a completed hotword keeps its bonus. States
are plain node ids so a decoder can keep one per hypothesis.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import torch
from whisper.decoding import DecodingTask, LogitFilter
from whisper.tokenizer import Tokenizer

ROOT = 0  # state of "no partial match"


class ContextGraph:
    """Aho-Corasick automaton over hotword token ids with icefall-style bonus accounting.

    After any prefix of a decode, the bonus summed so far is ``kept + pending(state)``: ``kept`` is
    the bonus of completed hotwords, ``pending`` that of the unfinished partial match, which a failed
    continuation or ``finalize`` takes back. Two refinements over icefall's strict/non-strict modes:
    a hotword that is a prefix of a longer one ("New York" / "New York City") is kept without ending
    the longer match, and a hotword that ends inside a longer partial match is not lost if the longer
    one fails. Matching restarts at the root after a hotword that nothing extends, so back-to-back
    hotwords both score; a hotword overlapping the end of a just-completed leaf hotword is not found.
    """

    def __init__(
        self,
        token_ids: Sequence[Sequence[int]],
        score: float = 1.5,
        phrase_scores: Sequence[float] | None = None,
        phrases: Sequence[str] | None = None,
    ) -> None:
        """``score`` is the per-token bonus; ``phrase_scores[i]``, when given, replaces it for hotword i.

        ``phrases`` (parallel to ``token_ids``) only names hotwords in error messages.
        """
        if not token_ids:
            raise ValueError("ContextGraph needs at least one hotword; got an empty list")
        if phrase_scores is not None and len(phrase_scores) != len(token_ids):
            raise ValueError(f"{len(phrase_scores)} phrase scores for {len(token_ids)} hotwords")
        if phrases is not None and len(phrases) != len(token_ids):
            raise ValueError(f"{len(phrases)} phrases for {len(token_ids)} hotwords")
        self.score = float(score)
        self._children: list[dict[int, int]] = [{}]  # node -> {token: child node}
        self._token_score: list[float] = [0.0]  # bonus for entering a node (max over hotwords sharing it)
        self._is_end: list[bool] = [False]
        for index, tokens in enumerate(token_ids):
            name = repr(phrases[index]) if phrases is not None else f"#{index}"
            if len(tokens) == 0:
                raise ValueError(f"hotword {name} has no tokens")
            bonus = float(phrase_scores[index]) if phrase_scores is not None else self.score
            if not bonus > 0 or bonus == float("inf"):
                raise ValueError(f"hotword {name}: bonus must be positive and finite, got {bonus}")
            node = ROOT
            for token in tokens:
                child = self._children[node].get(int(token))
                if child is None:
                    child = len(self._children)
                    self._children[node][int(token)] = child
                    self._children.append({})
                    self._token_score.append(bonus)
                    self._is_end.append(False)
                self._token_score[child] = max(self._token_score[child], bonus)
                node = child
            self._is_end[node] = True
        self._link()

    @classmethod
    def from_phrases(
        cls,
        phrases: Sequence[str],
        tokenizer: Tokenizer,
        score: float = 1.5,
        phrase_scores: Sequence[float] | None = None,
    ) -> ContextGraph:
        """Each phrase both as tokenized alone and with a leading space, the form Whisper emits mid-text."""
        if not phrases:
            raise ValueError("ContextGraph needs at least one hotword phrase; got an empty list")
        if phrase_scores is not None and len(phrase_scores) != len(phrases):
            raise ValueError(f"{len(phrase_scores)} phrase scores for {len(phrases)} phrases")
        seen: set[tuple[int, ...]] = set()
        token_ids: list[list[int]] = []
        names: list[str] = []
        scores: list[float] = []
        for index, phrase in enumerate(phrases):
            text = phrase.strip()
            if not text:
                raise ValueError(f"hotword phrase {phrase!r} tokenizes to nothing")
            for variant in (text, " " + text):
                tokens = tuple(tokenizer.encode(variant))
                if not tokens:
                    raise ValueError(f"hotword phrase {phrase!r} tokenizes to nothing")
                if tokens not in seen:
                    seen.add(tokens)
                    token_ids.append(list(tokens))
                    names.append(phrase)
                    scores.append(phrase_scores[index] if phrase_scores is not None else score)
        return cls(token_ids, score=score, phrase_scores=scores, phrases=names)

    @property
    def num_nodes(self) -> int:
        return len(self._children)

    def _link(self) -> None:
        """Failure links by BFS, then per-node bonus bookkeeping (parents and fail targets come first)."""
        n = self.num_nodes
        self._fail = [ROOT] * n
        self._node_score = [0.0] * n  # bonus summed along the root path
        self._match = [0.0] * n  # node_score of the longest hotword ending here (0: none)
        self._safe = [0.0] * n  # part of node_score already earned by hotwords inside the root path
        queue = deque([ROOT])
        while queue:
            parent = queue.popleft()
            for token, child in self._children[parent].items():
                if parent != ROOT:
                    fallback = self._fail[parent]
                    while token not in self._children[fallback] and fallback != ROOT:
                        fallback = self._fail[fallback]
                    self._fail[child] = self._children[fallback].get(token, ROOT)
                self._node_score[child] = self._node_score[parent] + self._token_score[child]
                # the output link: the longest hotword that is a suffix of this node's path
                self._match[child] = self._node_score[child] if self._is_end[child] else self._match[self._fail[child]]
                self._safe[child] = (
                    self._node_score[child] if self._is_end[child] else max(self._safe[parent], self._match[child])
                )
                queue.append(child)

    def pending(self, state: int) -> float:
        """Bonus given to the current partial match that a failure would take back."""
        return self._node_score[state] - self._safe[state]

    def forward_one_step(self, state: int, token: int) -> tuple[float, int]:
        """``(score_delta, next_state)`` after ``token``.

        Continuing the partial match earns the token's bonus. Otherwise the pending bonus is taken
        back and matching restarts from the longest suffix that is a hotword prefix (failure links),
        earning that suffix's bonus — icefall's ``node_score(next) - node_score(state)`` when no
        hotword ended inside either path. A completed hotword that nothing extends returns to root.
        """
        child = self._children[state].get(token)
        if child is not None:
            delta, node = self._token_score[child], child
        else:
            node = state
            while token not in self._children[node] and node != ROOT:
                node = self._fail[node]
            node = self._children[node].get(token, ROOT)
            delta = self._match[node] + self.pending(node) - self.pending(state)
        if not self._children[node]:
            node = ROOT
        return delta, node

    def finalize(self, state: int) -> float:
        """Score delta at the end of decoding: an unfinished partial match gives its bonus back."""
        return -self.pending(state)

    def bonuses(self, state: int) -> dict[int, float]:
        """Tokens whose step from ``state`` gains score, with the gain: the hotword continuations."""
        candidates: set[int] = set()
        node = state
        while True:
            candidates.update(self._children[node])
            if node == ROOT:
                break
            node = self._fail[node]
        gains = {token: self.forward_one_step(state, token)[0] for token in sorted(candidates)}
        return {token: gain for token, gain in gains.items() if gain > 0}


class ContextBiasFilter(LogitFilter):
    """Adds the hotword bonus to the logits of tokens that continue a hotword, in greedy or beam search.

    icefall adds ``forward_one_step``'s delta, take-back included, to the hypothesis score. A logit
    filter only shapes the next-token distribution, so the bonus goes to continuation logits only and
    no token is penalised: a hypothesis that abandons a partial match simply stops being boosted.
    Each row's state is recomputed from its generated tokens every step, since beam search reorders
    rows; states are cached by the generated-token tuple so each step costs one graph transition.
    """

    def __init__(self, graph: ContextGraph, sample_begin: int, scale: float = 1.0) -> None:
        """``sample_begin``: index of the first generated token (after the sot sequence and prompt)."""
        self.graph = graph
        self.sample_begin = sample_begin
        self.scale = scale  # multiplies the graph's bonuses, in logit units
        self._states: dict[tuple[int, ...], int] = {(): ROOT}
        self._bonus_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def state_of(self, generated: Sequence[int]) -> int:
        """Graph state after the generated tokens, extending the longest cached prefix."""
        generated = tuple(generated)
        known = len(generated)
        while generated[:known] not in self._states:
            known -= 1
        state = self._states[generated[:known]]
        for end in range(known + 1, len(generated) + 1):
            _, state = self.graph.forward_one_step(state, generated[end - 1])
            self._states[generated[:end]] = state
        return state

    def _bonus(self, state: int, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cached = self._bonus_cache.get(state)
        if cached is None or cached[1].device != logits.device or cached[1].dtype != logits.dtype:
            gains = self.graph.bonuses(state)
            ids = torch.tensor(list(gains), dtype=torch.long, device=logits.device)
            values = torch.tensor([self.scale * g for g in gains.values()], dtype=logits.dtype, device=logits.device)
            cached = self._bonus_cache[state] = (ids, values)
        return cached

    def apply(self, logits: torch.Tensor, tokens: torch.Tensor) -> None:
        if tokens.shape[1] == self.sample_begin:  # a new decode: drop the previous one's states
            self._states = {(): ROOT}
        for row, generated in enumerate(tokens[:, self.sample_begin :].tolist()):
            ids, values = self._bonus(self.state_of(generated), logits)
            if ids.numel():
                logits[row, ids] += values


def install_context_bias(task: DecodingTask, graph: ContextGraph, scale: float = 1.0) -> ContextBiasFilter:
    """Append a bias filter to a task's logit filters; it runs after suppression, so masked tokens stay -inf."""
    bias = ContextBiasFilter(graph, task.sample_begin, scale)
    task.logit_filters.append(bias)
    return bias
