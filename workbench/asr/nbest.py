"""Batched N-best beam search and teacher-forced scoring on an openai-whisper model.

openai-whisper's beam search keeps every finished candidate but returns only the best one. We
reuse its ``DecodingTask`` (tokenizer, initial tokens, logit filters, kv-cache inference, beam
update and ranker), so the 1-best is exactly whisper's, and return all candidates, ranked:

- the encoder runs once per batch of clips; the beam is a batch dimension (``n_audio * beam``
  rows) sharing one kv-cache;
- the beams of a clip share its cross-attention keys/values (stacked as extra query positions),
  where whisper 20250625 broadcasts them only for a single clip (its batched beam search fails
  for more than one clip, openai/whisper#2197).

Teacher forcing scores K candidate texts for one clip with one encoder pass and one batched
decoder pass, applying the same logit filters as decoding, so the score of the 1-best equals the
beam search's own ``sum_logprob``.
"""

from __future__ import annotations

import contextlib
import types
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
import whisper
from whisper.decoding import DecodingOptions, DecodingTask
from whisper.tokenizer import Tokenizer

from workbench.asr.context_graph import ContextGraph, install_context_bias


@dataclass(frozen=True)
class NBestOptions:
    beam_size: int = 5  # beams per clip
    n_best: int = 5  # hypotheses returned per clip (at most beam_size * patience)
    patience: float | None = None  # whisper's beam patience: finished candidates = beam_size * patience
    length_penalty: float | None = None  # None: rank by sum_logprob / length; else Google NMT's alpha
    max_tokens: int | None = None  # tokens sampled at most per clip (None: whisper's n_text_ctx // 2)
    language: str | None = None  # None: detected per clip
    task: str = "transcribe"
    prompt: str | None = None  # previous-text prompt (prompt biasing); None or non-empty
    suppress_tokens: str = "-1"  # "-1": whisper's non-speech symbols
    suppress_blank: bool = True
    hotwords: tuple[str, ...] = ()  # trie biasing (ContextGraph) toward these phrases; () = off
    hotword_bonus: float = 1.5  # logit bonus per token that continues a hotword
    fp16: bool = False  # CPU needs fp32

    def validate(self) -> None:
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be at least 1, got {self.beam_size}")
        candidates = round(self.beam_size * (self.patience or 1.0))
        if not 1 <= self.n_best <= candidates:
            raise ValueError(
                f"n_best={self.n_best} must be between 1 and beam_size * patience = {candidates}: "
                "beam search finishes at most that many candidates"
            )
        if self.prompt is not None and not self.prompt.strip():
            raise ValueError("prompt is empty; pass None for no prompt")

    def decoding_options(self) -> DecodingOptions:
        return DecodingOptions(
            task=self.task, language=self.language, temperature=0.0, sample_len=self.max_tokens,
            beam_size=self.beam_size, patience=self.patience, length_penalty=self.length_penalty,
            prompt=self.prompt, suppress_tokens=self.suppress_tokens, suppress_blank=self.suppress_blank,
            without_timestamps=True, fp16=self.fp16,
        )


@dataclass(frozen=True)
class Hypothesis:
    text: str
    tokens: list[int]  # text tokens only: no SOT sequence, no EOT
    sum_logprob: float  # includes the EOT token's log-prob when finished, as whisper's
    avg_logprob: float  # sum_logprob / (len(tokens) + 1)
    finished: bool = True  # False: cut at max_tokens before EOT (whisper pads such beams in)

    def to_json(self) -> dict:
        return {
            "text": self.text, "tokens": self.tokens, "sum_logprob": self.sum_logprob,
            "avg_logprob": self.avg_logprob, "finished": self.finished,
        }


@dataclass(frozen=True)
class NBestResult:
    hyps: list[Hypothesis]  # best first, by whisper's ranker; unique texts
    language: str
    no_speech_prob: float


def _grouped_cross_attention_forward(self, x, xa=None, mask=None, kv_cache=None):
    """Cross-attention where ``x`` has ``group`` rows (beams) per row of ``xa`` (clips).

    Cross-attention queries never attend to each other, so the beams of a clip can be stacked as
    extra query positions against that clip's keys/values: exact, and the 1500-frame keys/values
    are stored and read once per clip instead of once per beam (a memory-bound step on CPU).
    """
    q = self.query(x)
    if kv_cache is None or self.key not in kv_cache:
        k, v = self.key(xa), self.value(xa)
    else:
        k, v = kv_cache[self.key], kv_cache[self.value]
    n_audio, group = k.shape[0], q.shape[0] // k.shape[0]
    if group == 1:
        wv, qk = self.qkv_attention(q, k, v, mask)
        return self.out(wv), qk
    n_ctx = q.shape[1]
    wv, _ = self.qkv_attention(q.reshape(n_audio, group * n_ctx, q.shape[2]), k, v, None)
    return self.out(wv.reshape(n_audio * group, n_ctx, wv.shape[2])), None


@contextlib.contextmanager
def grouped_cross_attention(model: whisper.Whisper) -> Iterator[None]:
    """Patch the decoder's cross-attention instances (not the class) for one decode."""
    modules = [block.cross_attn for block in model.decoder.blocks]
    for module in modules:
        module.forward = types.MethodType(_grouped_cross_attention_forward, module)
    try:
        yield
    finally:
        for module in modules:
            del module.forward


class _NBestTask(DecodingTask):
    """whisper's DecodingTask, returning every finished beam candidate instead of the best one."""

    @torch.no_grad()
    def run_nbest(self, mel: torch.Tensor, n_best: int) -> list[NBestResult]:
        self.decoder.reset()
        tokenizer: Tokenizer = self.tokenizer
        n_audio = mel.shape[0]
        audio_features = self._get_audio_features(mel)
        tokens = torch.tensor([self.initial_tokens]).repeat(n_audio, 1)
        languages, _ = self._detect_language(audio_features, tokens)
        tokens = tokens.repeat_interleave(self.n_group, dim=0).to(audio_features.device)
        with grouped_cross_attention(self.model):  # beams share their clip's audio keys/values
            tokens, sum_logprobs, no_speech_probs = self._main_loop(audio_features, tokens)
        no_speech_probs = no_speech_probs[:: self.n_group]
        tokens = tokens.reshape(n_audio, self.n_group, -1)
        sum_logprobs = sum_logprobs.reshape(n_audio, self.n_group)
        finished = [set(done) for done in self.decoder.finished_sequences]  # before finalize pads in unfinished beams
        candidates, scores = self.decoder.finalize(tokens, sum_logprobs)
        results = []
        for clip, (clip_tokens, clip_scores) in enumerate(zip(candidates, scores)):
            texts = [t[self.sample_begin : (t == tokenizer.eot).nonzero()[0, 0]].tolist() for t in clip_tokens]
            complete = [tuple(t.tolist()) in finished[clip] for t in clip_tokens]
            ranked = sorted(
                range(len(texts)),
                key=lambda i: -self.sequence_ranker_score(clip_scores[i], len(texts[i])),
            )
            hyps, seen = [], set()
            for i in ranked:
                text = tokenizer.decode(texts[i]).strip()
                if text in seen:  # different token sequences can spell the same text
                    continue
                seen.add(text)
                hyps.append(Hypothesis(
                    text, texts[i], float(clip_scores[i]), float(clip_scores[i]) / (len(texts[i]) + 1), complete[i],
                ))
                if len(hyps) == n_best:
                    break
            results.append(NBestResult(hyps, languages[clip], float(no_speech_probs[clip])))
        return results

    def sequence_ranker_score(self, sum_logprob: float, length: int) -> float:
        """The score whisper's MaximumLikelihoodRanker maximizes."""
        penalty = length if self.options.length_penalty is None else ((5 + length) / 6) ** self.options.length_penalty
        return sum_logprob / penalty


def decode_nbest(model: whisper.Whisper, mel: torch.Tensor, options: NBestOptions) -> list[NBestResult]:
    """N-best lists for a batch of 30-s log-mel spectrograms (or encoder outputs) [n_audio, 80, 3000]."""
    options.validate()
    if mel.ndim == 2:
        mel = mel.unsqueeze(0)
    task = _NBestTask(model, options.decoding_options())
    if options.hotwords:
        graph = ContextGraph.from_phrases(list(options.hotwords), task.tokenizer, score=options.hotword_bonus)
        install_context_bias(task, graph)
    return task.run_nbest(mel, options.n_best)


@dataclass(frozen=True)
class ForcedScore:
    text: str
    tokens: list[int]
    token_logprobs: list[float]  # one per text token, then EOT
    sum_logprob: float
    avg_logprob: float  # length-normalized (seed 003 Eq. 9): sum / (len(tokens) + 1)


def text_tokens(tokenizer: Tokenizer, text: str) -> list[int]:
    """How whisper spells a transcript: a leading space, as its decoder emits it."""
    return tokenizer.encode(" " + text.strip())


@torch.no_grad()
def teacher_forced_scores(
    model: whisper.Whisper,
    mel: torch.Tensor,
    candidates: Sequence[str | Sequence[int]],
    language: str | None,
    prompt: str | None = None,
    task: str = "transcribe",
) -> list[ForcedScore]:
    """Log-probabilities of K candidates (texts or token lists) for one clip.

    One encoder pass, one decoder pass over the K candidates padded into a batch. The same logit
    filters as decoding are applied at each position, so a beam hypothesis gets its own score.
    """
    if not candidates:
        raise ValueError("no candidates to score")
    if mel.ndim == 3:
        if mel.shape[0] != 1:
            raise ValueError("teacher_forced_scores takes one clip; loop over clips or stack candidates")
        mel = mel[0]
    decoding = DecodingOptions(task=task, language=language, prompt=prompt, without_timestamps=True, fp16=False)
    base = DecodingTask(model, decoding)
    tokenizer = base.tokenizer
    audio_features = base._get_audio_features(mel.unsqueeze(0))
    prefix = list(base.initial_tokens)
    if language is None:
        lang_tokens, _ = model.detect_language(audio_features, tokenizer)
        prefix[base.sot_index + 1] = int(lang_tokens[0])
    sequences = [list(c) if not isinstance(c, str) else text_tokens(tokenizer, c) for c in candidates]
    for i, seq in enumerate(sequences):
        if len(prefix) + len(seq) + 1 > model.dims.n_text_ctx:
            raise ValueError(f"candidate {i} has {len(seq)} tokens: too long for the decoder context")
    rows = [prefix + seq + [tokenizer.eot] for seq in sequences]
    width = max(map(len, rows))
    tokens = torch.full((len(rows), width), tokenizer.eot, dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
    logits = model.decoder(tokens[:, :-1], audio_features.expand(len(rows), -1, -1)).float()
    begin = len(prefix)
    scores = []
    for position in range(begin - 1, width - 1):
        step = logits[:, position].clone()
        for logit_filter in base.logit_filters:
            logit_filter.apply(step, tokens[:, : position + 1])
        scores.append(F.log_softmax(step, dim=-1).gather(1, tokens[:, position + 1 : position + 2]).squeeze(1))
    per_position = torch.stack(scores, dim=1)  # [K, width - begin]
    results = []
    for i, seq in enumerate(sequences):
        values = per_position[i, : len(seq) + 1].tolist()
        total = float(sum(values))
        text = tokenizer.decode(seq).strip()
        results.append(ForcedScore(text, seq, values, total, total / (len(seq) + 1)))
    return results
