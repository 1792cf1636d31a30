"""Batched N-best beam search and teacher-forced scoring on an openai-whisper model.

openai-whisper's beam search keeps every finished candidate but returns only the best one. We
reuse its ``DecodingTask`` (tokenizer, initial tokens, logit filters, kv-cache inference, beam
update and ranker), so the 1-best is exactly whisper's, and return all candidates, ranked:

- the encoder runs once per clip (in small chunks, its fastest batch on CPU); the beam is a batch
  dimension of the decoder (``n_audio * beam`` rows) sharing one kv-cache; a clip whose search is
  complete leaves the batch;
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import whisper
from whisper.decoding import BeamSearchDecoder, DecodingOptions, DecodingTask
from whisper.tokenizer import Tokenizer

from workbench.asr.context_graph import ContextGraph, install_context_bias
from workbench.asr.whisper_model import encode


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


def _heads(x: torch.Tensor, n_head: int) -> torch.Tensor:
    """[batch, time, state] -> contiguous [batch, head, time, state / head]."""
    return x.view(*x.shape[:2], n_head, -1).permute(0, 2, 1, 3).contiguous()


def _grouped_cross_attention_forward(self, x, xa=None, mask=None, kv_cache=None):
    """Cross-attention where ``x`` has ``group`` rows (beams) per row of ``xa`` (clips).

    Cross-attention queries never attend to each other, so the beams of a clip can be stacked as
    extra query positions against that clip's keys/values: exact, and the 1500-frame keys/values
    are stored and read once per clip instead of once per beam (a memory-bound step on CPU). The
    cache holds them head-major and contiguous, as attention reads them: whisper re-permutes them
    at every step, which costs SDPA a strided read (~25 % of its time, measured).
    """
    q = self.query(x)
    if kv_cache is None or self.key not in kv_cache:
        k, v = _heads(self.key(xa), self.n_head), _heads(self.value(xa), self.n_head)
        if kv_cache is not None:  # overwrite what whisper's hooks just stored
            kv_cache[self.key], kv_cache[self.value] = k, v
    else:
        k, v = kv_cache[self.key], kv_cache[self.value]
    n_audio, n_ctx, n_state = k.shape[0], q.shape[1], q.shape[2]
    group = q.shape[0] // n_audio
    queries = q.reshape(n_audio, group * n_ctx, n_state).view(n_audio, group * n_ctx, self.n_head, -1)
    queries = queries.permute(0, 2, 1, 3)
    attended = F.scaled_dot_product_attention(queries, k, v)  # [n_audio, head, group * n_ctx, state / head]
    wv = attended.permute(0, 2, 1, 3).reshape(n_audio * group, n_ctx, n_state)
    return self.out(wv), None


@contextlib.contextmanager
def patched_cross_attention(model: whisper.Whisper, forward, **attributes) -> Iterator[None]:
    """Give the decoder's cross-attention instances (not the class) another ``forward`` and
    extra attributes for the duration of the block."""
    modules = [block.cross_attn for block in model.decoder.blocks]
    for module in modules:
        module.forward = types.MethodType(forward, module)
        for name, value in attributes.items():
            setattr(module, name, value)
    try:
        yield
    finally:
        for module in modules:
            del module.forward
            for name in attributes:
                delattr(module, name)


def grouped_cross_attention(model: whisper.Whisper):
    """Beams (or teacher-forced rows) of a clip share its keys/values, for one decode."""
    return patched_cross_attention(model, _grouped_cross_attention_forward)


class _BatchedBeamSearch(BeamSearchDecoder):
    """whisper's ``BeamSearchDecoder.update`` with the per-row work done once for all rows.

    whisper calls ``topk`` and ``.item()`` per beam row (80 rows for 16 clips, every step); here one
    ``topk`` over all rows and one ``tolist`` feed the same per-clip ranking. Scores are the same
    float32 sums, candidates are inserted in the same order and sorted by the same stable sort,
    so the beams, finished sequences and kv-cache reordering are whisper's.
    """

    def update(self, tokens: torch.Tensor, logits: torch.Tensor, sum_logprobs: torch.Tensor):
        if tokens.shape[0] % self.beam_size != 0:
            raise ValueError(f"{tokens.shape}[0] % {self.beam_size} != 0")
        n_audio = tokens.shape[0] // self.beam_size
        if self.finished_sequences is None:
            self.finished_sequences = [{} for _ in range(n_audio)]
        logprobs = F.log_softmax(logits.float(), dim=-1)
        top_logprobs, top_tokens = logprobs.topk(self.beam_size + 1)
        candidate_scores = (sum_logprobs[:, None] + top_logprobs).tolist()  # float32 sums, as whisper's
        top_tokens = top_tokens.tolist()
        prefixes = tokens.tolist()
        next_tokens, source_indices, new_sums, finished_sequences = [], [], [], []
        for i in range(n_audio):
            scores, sources, finished = {}, {}, {}
            for idx in range(i * self.beam_size, (i + 1) * self.beam_size):
                prefix = prefixes[idx]
                for score, token in zip(candidate_scores[idx], top_tokens[idx]):
                    sequence = tuple(prefix + [token])
                    scores[sequence] = score
                    sources[sequence] = idx
            saved = 0
            for sequence in sorted(scores, key=scores.get, reverse=True):
                if sequence[-1] == self.eot:
                    finished[sequence] = scores[sequence]
                else:
                    new_sums.append(scores[sequence])
                    next_tokens.append(sequence)
                    source_indices.append(sources[sequence])
                    saved += 1
                    if saved == self.beam_size:
                        break
            finished_sequences.append(finished)
        sum_logprobs[: len(new_sums)] = torch.tensor(new_sums, dtype=sum_logprobs.dtype)
        tokens = torch.tensor(next_tokens, device=tokens.device)
        self.inference.rearrange_kv_cache(source_indices)
        for previously_finished, newly_finished in zip(self.finished_sequences, finished_sequences):
            for seq in sorted(newly_finished, key=newly_finished.get, reverse=True):
                if len(previously_finished) >= self.max_candidates:
                    break
                previously_finished[seq] = newly_finished[seq]
        completed = all(len(sequences) >= self.max_candidates for sequences in self.finished_sequences)
        return tokens, completed


class _NBestTask(DecodingTask):
    """whisper's DecodingTask, returning every finished beam candidate instead of the best one."""

    compact_finished_clips = True  # drop a clip's rows once it is complete (False: whisper's loop)

    def __init__(self, model: whisper.Whisper, options: DecodingOptions):
        super().__init__(model, options)
        self.decoder = _BatchedBeamSearch(options.beam_size, self.tokenizer.eot, self.inference, options.patience)

    @torch.no_grad()
    def run_nbest(self, mel: torch.Tensor, n_best: int) -> list[NBestResult]:
        self.decoder.reset()
        tokenizer: Tokenizer = self.tokenizer
        n_audio = mel.shape[0]
        audio_features = self._get_audio_features(encode(self.model, mel))
        tokens = torch.tensor([self.initial_tokens]).repeat(n_audio, 1)
        languages, _ = self._detect_language(audio_features, tokens)
        tokens = tokens.repeat_interleave(self.n_group, dim=0).to(audio_features.device)
        with grouped_cross_attention(self.model):  # beams share their clip's audio keys/values
            last_tokens, last_logprobs, no_speech_probs = self._main_loop_compacting(audio_features, tokens)
        no_speech_probs = no_speech_probs[:: self.n_group]
        finished = [set(done) for done in self.decoder.finished_sequences]  # before finalize pads in unfinished beams
        candidates, scores = [], []
        all_finished = self.decoder.finished_sequences
        for clip in range(n_audio):  # whisper's finalize, one clip at a time (clips stop at different steps)
            self.decoder.finished_sequences = [all_finished[clip]]
            clip_candidates, clip_scores = self.decoder.finalize(last_tokens[clip][None], last_logprobs[clip][None])
            candidates += clip_candidates
            scores += clip_scores
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

    def _main_loop_compacting(self, audio_features: torch.Tensor, tokens: torch.Tensor):
        """whisper's ``_main_loop``, except that a clip's rows leave the batch once its beam search
        is complete (enough finished candidates), instead of being decoded until the longest clip
        of the batch finishes: rows are independent, so the result is the same, at a fraction of
        the decoder work when clip lengths differ. Returns each clip's beams [n_group, length] and
        their sum log-probs at the step it stopped, and the no-speech probability per row.
        """
        n_group, n_audio = self.n_group, audio_features.shape[0]
        max_candidates = self.decoder.max_candidates
        # with patience < 1 whisper's finalize pads a completed clip with its beams *at the end* of
        # the loop: keep every clip in the batch then, to stay identical
        compact = self.compact_finished_clips and max_candidates >= n_group
        sum_logprobs = torch.zeros(tokens.shape[0], device=audio_features.device)
        no_speech_probs = [float("nan")] * tokens.shape[0]
        finished: list[dict] = [{} for _ in range(n_audio)]
        last_tokens: list = [None] * n_audio
        last_logprobs: list = [None] * n_audio
        active = list(range(n_audio))  # clip of each group of n_group rows
        self_attention_modules = set(self.inference.kv_modules)
        try:
            for step in range(self.sample_len):
                logits = self.inference.logits(tokens, audio_features)
                if step == 0 and self.tokenizer.no_speech is not None:
                    probs_at_sot = logits[:, self.sot_index].float().softmax(dim=-1)
                    no_speech_probs = probs_at_sot[:, self.tokenizer.no_speech].tolist()
                logits = logits[:, -1]
                for logit_filter in self.logit_filters:
                    logit_filter.apply(logits, tokens)
                self.decoder.finished_sequences = [finished[clip] for clip in active]  # updated in place
                tokens, _ = self.decoder.update(tokens, logits, sum_logprobs)
                done = [len(finished[clip]) >= max_candidates for clip in active]
                stop = all(done) or tokens.shape[-1] > self.n_ctx or step == self.sample_len - 1
                for k, clip in enumerate(active):
                    if stop or (compact and done[k]):
                        last_tokens[clip] = tokens[k * n_group : (k + 1) * n_group]
                        last_logprobs[clip] = sum_logprobs[k * n_group : (k + 1) * n_group].clone()
                if stop:
                    break
                # compacting copies every kept cache row: do it once a quarter of the batch is done
                if compact and sum(done) * 4 >= len(done):
                    kept = [k for k, is_done in enumerate(done) if not is_done]
                    rows = torch.tensor([k * n_group + g for k in kept for g in range(n_group)])
                    clips = torch.tensor(kept)
                    tokens, sum_logprobs, audio_features = tokens[rows], sum_logprobs[rows], audio_features[clips]
                    cache = self.inference.kv_cache
                    for module, tensor in cache.items():  # self-attention: per row; cross-attention: per clip
                        cache[module] = tensor[rows if module in self_attention_modules else clips]
                    active = [active[k] for k in kept]
        finally:
            self.inference.cleanup_caching()
            self.decoder.finished_sequences = finished
        return last_tokens, last_logprobs, no_speech_probs

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
    """How whisper spells a transcript: a leading space, as its decoder emits it, except where the
    space stays a token of its own (text starting with a CJK character: " 这个" is " " + "这个").
    Whisper's decoder never emits that lone space first (its blank suppression forbids it), so a
    reference spelled with it would score -inf; such text starts without the space."""
    tokens = tokenizer.encode(" " + text.strip())
    if tokens and tokenizer.encoding.decode_single_token_bytes(tokens[0]) == b" ":
        return tokens[1:]
    return tokens


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
    with grouped_cross_attention(model):  # the K rows share the clip's keys/values: projected once, not K times
        logits = model.decoder(tokens[:, :-1], audio_features).float()
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


def nbest_lists(model: whisper.Whisper, utterances: Sequence, root, config) -> Iterator[list[dict]]:
    """N-best records (DESIGN.md §4) of ``utterances`` (audio paths relative to ``root``), one list
    per decoded batch, batched by language when ``config.language == "manifest"``. ``config`` is
    an ``NBestConfig``; the caller shows progress and stores the records."""
    from workbench.asr.transcribe import log_mel_batch, token_budget
    from workbench.data import batches_by_language, load_audio

    by_language = config.language == "manifest"
    for language, batch in batches_by_language(list(utterances), config.batch_size, by_language):
        clips = [load_audio(u.audio_path(root)) for u in batch]
        options = NBestOptions(
            beam_size=config.beam_size, n_best=config.n_best, patience=config.patience,
            length_penalty=config.length_penalty, max_tokens=token_budget(model, clips, config.max_tokens_per_second),
            language=language if by_language else config.language, fp16=config.device != "cpu",
        )
        results = decode_nbest(model, log_mel_batch(model, clips), options)
        yield [{"id": u.id, "language": r.language, "no_speech_prob": r.no_speech_prob,
                "hyps": [h.to_json() for h in r.hyps]} for u, r in zip(batch, results)]
