"""Seed 004 replayed: a manifest as a stream of short committed utterances, per system.

Consecutive utterances form conversations of ``conversation_size``, one session each, replayed in
order on a simulated stream clock (each utterance's audio, then ``gap_seconds``) the way a live
node commits them. Systems (:data:`SYSTEMS`):

- ``no_bias``: beam search, no prompt;
- ``s1``: the S1 prompt from the session's state (room keywords, recent committed lines and the
  keywords extracted from them; the strong prompt for short audio or after a low-quality commit);
- ``s1_s2a``: S1, then S2 with the primary's N-best as candidates (§5.2 A);
- ``s1_s2b``: S1, then S2 with a second, conservative decode of the cached audio (§5.2 B);
- ``s1_s2a_uncapped`` / ``s1_s2b_uncapped``: diagnostics without the trigger-rate cap and without
  the second pass's concurrency limit, i.e. the Rescorer on every commit NeedRescore flags (the
  capped systems rescore at most ``max_trigger_rate`` of the commits: none of the first 19).

Each S2 system has its own NeedRescore (and cap) and its own committed history, so a replacement
changes that system's later prompts. Work is shared: every clip is encoded once; the unprompted
decodes of a conversation are one batch; a prompted decode is keyed by (clip, prompt), so S1 and
the S2 systems share it until their histories differ. Room keywords are the hotwords of the
conversation's utterances (a meeting's configured terms), or a given list.

:func:`replay` returns a :class:`ReplayResult`: per-system metrics (WER/CER/MER, proper-noun hit
rate, digit error rate, trigger/win/loss rates, added latency p50/p95, ...), one trace per system
and commit, and the comparison table. The rates are ratios of sums over commits, kept per commit
(:func:`system_ratios`, items = the committed utterances' ids, the same for every system): each
gets a bootstrap interval (``<rate>_ci_lo``/``_ci_hi``), and the report pairs systems on them.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.asr.nbest import NBestOptions, NBestResult, decode_nbest
from workbench.asr.transcribe import log_mel_batch, token_budget
from workbench.asr.whisper_model import encode
from workbench.data import Utterance, load_audio
from workbench.metrics.intervals import UtteranceRatios, corpus_ratios, count_matrix, interval_metrics
from workbench.metrics.options import IntervalConfig
from workbench.metrics.rescoring import CommitOutcome, rescoring_rates, rescoring_ratios
from workbench.metrics.scorer import Reference, Scorer, UtteranceScore, aggregate
from workbench.reporting.table import Column, Estimate, Table
from workbench.rescoring.audio_cache import AudioRef, AudioRingBuffer, ManualClock
from workbench.rescoring.candidates import SecondPass, whisper_second_pass
from workbench.rescoring.context import ConversationState
from workbench.rescoring.options import S1S2ReplayConfig
from workbench.rescoring.rescorer import Rescorer
from workbench.rescoring.task import RescoringTask
from workbench.rescoring.trigger import Commit, NeedRescore, quality_from_logprob


@dataclass(frozen=True)
class System:
    name: str
    label: str  # row name in the tables
    prompt: bool  # S1 on
    sources: tuple[str, ...] = ()  # S2 candidate sources; () = no S2
    capped: bool = True  # the trigger-rate cap and the second pass's concurrency limit apply


SYSTEMS = {s.name: s for s in (
    System("no_bias", "no bias", False),
    System("s1", "S1", True),
    System("s1_s2a", "S1+S2-A", True, ("nbest",)),
    System("s1_s2b", "S1+S2-B", True, ("second_pass",)),
    System("s1_s2a_uncapped", "S1+S2-A, no cap (diagnostic)", True, ("nbest",), False),
    System("s1_s2b_uncapped", "S1+S2-B, no cap (diagnostic)", True, ("second_pass",), False),
)}

# the comparison columns (metric key -> column), shared by table.md and the report's seed 004 table
METRIC_COLUMNS = (
    ("wer", Column("WER")), ("cer", Column("CER")), ("mer", Column("MER")),
    ("proper_noun_hit_rate", Column("proper-noun hit")), ("digit_error_rate", Column("digit ER")),
    ("trigger_rate", Column("trigger")), ("win_rate", Column("win")), ("loss_rate", Column("loss")),
    ("replaced", Column("replaced", "count")), ("latency_p50_ms", Column("+ms p50", "count")),
    ("latency_p95_ms", Column("+ms p95", "count")),
)
# the corpus rates kept per commit besides the proper-noun hit rate and the S2 rates; ``replaced`` (a count)
# and the latency percentiles (order statistics, not ratios of sums) have no per-commit ratio and no interval
CORPUS_RATES = ("wer", "cer", "mer", "sacc", "digit_error_rate")
TABLE_NOTE = ("Rates in %; win/loss over triggered commits (a replacement with fewer / more MER errors than the "
              "primary); latency added by S2 over triggered commits, in ms; – = not applicable or no such tokens.")


def conversations(utterances: Sequence[Utterance], size: int) -> list[list[Utterance]]:
    return [list(utterances[i : i + size]) for i in range(0, len(utterances), size)]


def room_keywords(conversation: Sequence[Utterance], mode: str, listed: Sequence[str] | None) -> tuple[str, ...]:
    """The session's room keywords: a given list, none, or the conversation's hotwords (first spelling kept)."""
    if listed is not None:
        return tuple(listed)
    if mode == "none":
        return ()
    seen, out = set(), []
    for utt in conversation:
        for hotword in utt.hotwords:
            if hotword.casefold() not in seen:
                seen.add(hotword.casefold())
                out.append(hotword)
    return tuple(out)


class _PrimaryDecoder:
    """The primary decode: speed-first beam search whose N-best are the S2-A candidates.

    Unprompted clips decode as a batch; a prompted clip decodes alone, since whisper's decoding
    takes one prompt per batch and each session's prompt is its own."""

    def __init__(self, model, config: S1S2ReplayConfig):
        self.model, self.config = model, config
        self.fp16 = config.device != "cpu"
        self.decodes = 0
        self.seconds = 0.0

    def options(self, clips, language: str | None, prompt: str | None) -> NBestOptions:
        return NBestOptions(
            beam_size=self.config.beam_size, n_best=self.config.n_best, language=language, prompt=prompt,
            max_tokens=token_budget(self.model, clips, self.config.max_tokens_per_second), fp16=self.fp16,
        )

    def batch(self, features, clips, language: str | None) -> list[NBestResult]:
        started = time.perf_counter()
        results = decode_nbest(self.model, features, self.options(clips, language, None))
        self.seconds += time.perf_counter() - started
        self.decodes += len(clips)
        return results

    def one(self, features, clip, language: str | None, prompt: str | None) -> NBestResult:
        started = time.perf_counter()
        (result,) = decode_nbest(self.model, features[None], self.options([clip], language, prompt))
        self.seconds += time.perf_counter() - started
        self.decodes += 1
        return result


def _language(config: S1S2ReplayConfig, utt: Utterance) -> str | None:
    return utt.language if config.language == "manifest" else config.language


def system_metrics(system: System, scores: Sequence[UtteranceScore], records: Sequence[dict],
                   outcomes: Sequence[CommitOutcome]) -> dict[str, float]:
    """One system's metrics from its commits' scores, trace records and S2 outcomes (NaN: not applicable)."""
    corpus = aggregate(scores)
    keywords = corpus.keywords
    m = {
        "wer": corpus.wer, "cer": corpus.cer, "mer": corpus.mer, "sacc": corpus.sacc,
        # hits over keywords (not 1 - KER, which can differ in the last digit from the per-commit sums)
        "proper_noun_hit_rate": (keywords.keywords - keywords.missing) / keywords.keywords if keywords.keywords
        else float("nan"),
        "keywords": float(keywords.keywords),
        "digit_error_rate": corpus.digit_error_rate,
        "digit_tokens": float(sum(s.digits.digit_tokens for s in scores)),
    }
    if system.prompt:
        prompts = [r["prompt"] for r in records]
        m.update(
            prompt_chars_mean=sum(p["chars"] for p in prompts) / len(prompts),
            prompt_strengthened_rate=sum(p["strengthened"] for p in prompts) / len(prompts),
            prompt_fallbacks=float(sum(p["fallback"] not in (None, "empty") for p in prompts)),
            decodes_shared_rate=sum(r["shared_decode"] for r in records) / len(records),
        )
    if system.sources:
        m.update(rescoring_rates(outcomes).as_metrics())
        decisions = [r["decision"] for r in records]
        m["flagged_rate"] = sum(bool(d["reasons"]) and d["excluded"] != "long_high_quality"
                                for d in decisions) / len(decisions)  # would trigger without the cap
        m["rate_capped"] = float(sum(d["excluded"] == "rate_cap" for d in decisions))
        if "second_pass" in system.sources:
            for outcome in ("decoded", "overloaded", "audio_expired", "audio_missing"):
                m[f"second_pass_{outcome}"] = float(sum(
                    (r["second_pass"] or {}).get("outcome") == outcome for r in records))
    return m


def system_ratios(system: System, scores: Sequence[UtteranceScore],
                  outcomes: Sequence[CommitOutcome]) -> dict[str, tuple]:
    """One system's rates per commit (commit order): numerators and denominators whose sums give
    :func:`system_metrics`' values of the same names."""
    rates = corpus_ratios(count_matrix(aggregate(scores)))
    missing, keywords = rates["ker"]
    out = {name: rates[name] for name in CORPUS_RATES}
    out["proper_noun_hit_rate"] = (keywords - missing, keywords)
    if system.sources:
        out.update(rescoring_ratios(outcomes))
    return out


def _cell(values: dict[str, float], key: str):
    """A metric with its interval where one was computed (an :class:`Estimate`), else the value alone."""
    lo, hi = values.get(f"{key}_ci_lo"), values.get(f"{key}_ci_hi")
    return values.get(key) if lo is None or hi is None else Estimate(values.get(key), lo, hi)


def comparison_table(name: str, systems: Sequence[System], metrics: dict[str, dict[str, float]]) -> Table:
    """The systems side by side (rows), one column per :data:`METRIC_COLUMNS` entry, rates with
    their intervals where the metrics hold them."""
    columns = [Column("system", "text")] + [dataclasses.replace(column, align="left") for _, column in METRIC_COLUMNS]
    rows = [[system.label, *(_cell(metrics[system.name], key) for key, _ in METRIC_COLUMNS)] for system in systems]
    return Table("s1s2_replay", f"S1/S2 replay: {name}", columns, rows, TABLE_NOTE)


def render_table(name: str, systems: Sequence[System], metrics: dict[str, dict[str, float]], utterances: int,
                 conversation_size: int) -> str:
    """table.md: the title, what the numbers mean, and :func:`comparison_table`."""
    table = comparison_table(name, systems, metrics)
    return (f"# {table.title}\n\n{utterances} utterances in conversations of {conversation_size}. {table.note}\n\n"
            + table.grid())


def _finite(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}


class Replay:
    """The replay of one manifest: per-system states, tasks and per-commit records."""

    def __init__(self, model, config: S1S2ReplayConfig, systems: Sequence[System], scorer: Scorer,
                 keywords: Sequence[str] | None):
        from whisper.tokenizer import get_tokenizer

        self.model, self.config, self.systems, self.scorer, self.keywords = model, config, systems, scorer, keywords
        self.rescoring = config.rescoring
        self.tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages)
        self.decoder = _PrimaryDecoder(model, config)
        self.clock = ManualClock()  # the stream's time: audio durations and gaps, not wall time
        self.cache = AudioRingBuffer(self.rescoring.audio_cache, self.clock)
        rescorer = Rescorer(self.rescoring.rescore)
        second_pass_decoder = whisper_second_pass(model, self.rescoring.secondary_decode, config.max_tokens_per_second)
        self.tasks: dict[str, RescoringTask] = {}
        for system in systems:
            if not system.sources:
                continue
            options, second_options = self.rescoring.rescore, self.rescoring.secondary_decode
            if not system.capped:  # every flagged commit triggers, and its second pass never finds the worker busy
                options = dataclasses.replace(options, max_trigger_rate=1.0, trigger_burst=1.0)
                second_options = dataclasses.replace(second_options, max_concurrency=1 << 30)
            second = SecondPass(second_pass_decoder, self.cache, second_options) \
                if "second_pass" in system.sources else None
            self.tasks[system.name] = RescoringTask(
                NeedRescore(options, self.rescoring.scene), rescorer, system.sources, second, config.n_best,
                self.rescoring.secondary_decode.strengthen_prompt,
            )
        self.records: dict[str, list[dict]] = {s.name: [] for s in systems}
        self.scores: dict[str, list[UtteranceScore]] = {s.name: [] for s in systems}
        self.outcomes: dict[str, list[CommitOutcome]] = {s.name: [] for s in systems}
        self.stream_time = 0.0

    def _state(self, session: str, keywords: tuple[str, ...]) -> ConversationState:
        return ConversationState(session, keywords, self.rescoring.prompt, self.rescoring.scene, self.rescoring.q_low,
                                 tokenizer=self.tokenizer)

    def run_conversation(self, index: int, conversation: Sequence[Utterance], manifest_dir: Path) -> None:
        session = f"conversation-{index:04d}"
        keywords = room_keywords(conversation, self.config.keywords, self.keywords)
        clips = [load_audio(u.audio_path(manifest_dir)) for u in conversation]
        features = encode(self.model, log_mel_batch(self.model, clips))  # once per clip, for every decode
        memo: list[dict[str | None, NBestResult]] = [{} for _ in conversation]
        if any(not s.prompt for s in self.systems):
            by_language: dict[str | None, list[int]] = {}
            for i, utt in enumerate(conversation):
                by_language.setdefault(_language(self.config, utt), []).append(i)
            for language, rows in by_language.items():
                results = self.decoder.batch(features[rows], [clips[i] for i in rows], language)
                for i, result in zip(rows, results):
                    memo[i][None] = result
        states = {s.name: self._state(session, keywords) for s in self.systems if s.prompt}
        for i, utt in enumerate(conversation):
            start = self.stream_time
            end = start + len(clips[i]) / 16000
            self.clock.set(end)  # committed when its audio ends
            ref = AudioRef(session, utt.id, round(start * 1000), round(end * 1000), utt.id)
            self.cache.put(ref, clips[i])
            language = _language(self.config, utt)
            reference = Reference.from_utterance(utt)
            scored: dict[str, UtteranceScore] = {}

            def score(text: str) -> UtteranceScore:
                if text not in scored:  # noqa: B023 (score is only called within this iteration)
                    scored[text] = self.scorer.score(reference, text)  # noqa: B023 (as above)
                return scored[text]  # noqa: B023 (as above)

            for system in self.systems:
                choice = states[system.name].prompt(utt.duration) if system.prompt else None
                prompt = choice.prompt if choice else None
                shared = prompt in memo[i]
                if not shared:
                    memo[i][prompt] = self.decoder.one(features[i], clips[i], language, prompt)
                result = memo[i][prompt]
                primary = result.hyps[0]
                quality = quality_from_logprob(primary.avg_logprob)
                record = {
                    "system": system.name, "commit_id": utt.id, "session_id": session, "position": i,
                    "reference": utt.text, "prompt_text": prompt, "prompt": choice.to_json() if choice else None,
                    "shared_decode": shared, "quality": round(quality, 4), "primary_text": primary.text,
                }
                final = primary.text
                task = self.tasks.get(system.name)
                if task is not None:
                    commit = Commit(utt.id, primary.text, quality, session, result.language or language, 0, ref)
                    trace = task.process(commit, result.hyps, states[system.name])
                    final = trace.final_text
                    errors_primary, errors_final = score(primary.text).mixed.errors, score(final).mixed.errors
                    record.update(trace.to_json())
                    record.update(errors_primary=errors_primary, errors_final=errors_final)
                    self.outcomes[system.name].append(CommitOutcome(
                        trace.decision.trigger, trace.applied, errors_primary, errors_final, trace.latency_ms))
                record["final_text"] = final
                if system.prompt:
                    states[system.name].commit(final, quality, ref)
                self.scores[system.name].append(score(final))
                self.records[system.name].append(record)
            self.stream_time = end + self.config.gap_seconds

    def ratios(self) -> dict[str, UtteranceRatios]:
        """Each system's rates per commit; the items are the committed utterances' ids."""
        ids = tuple(record["commit_id"] for record in self.records[self.systems[0].name])
        return {s.name: UtteranceRatios(ids, system_ratios(s, self.scores[s.name], self.outcomes[s.name]))
                for s in self.systems}

    def metrics(self, ratios: dict[str, UtteranceRatios], intervals: IntervalConfig) -> dict[str, dict[str, float]]:
        """Each system's metrics and its rates' intervals (every system resampled alike: same commits, same seed)."""
        return {s.name: {**system_metrics(s, self.scores[s.name], self.records[s.name], self.outcomes[s.name]),
                         **interval_metrics(ratios[s.name].intervals(intervals))}
                for s in self.systems}

    def traces(self) -> Iterator[dict]:
        for system in self.systems:
            yield from self.records[system.name]


@dataclass(frozen=True)
class ReplayResult:
    """What one replay gives: per-system metrics (NaN where not applicable) and traces."""

    name: str
    systems: tuple[System, ...]
    conversation_size: int
    utterances: int
    conversations: int
    seconds: float  # wall time of the replay (model loading excluded)
    primary_decodes: int
    primary_decode_seconds: float
    metrics: dict[str, dict[str, float]]  # with <rate>_ci_lo/_ci_hi
    traces: list[dict]  # one per system and commit, system by system
    ratios: dict[str, UtteranceRatios]  # each system's rates per commit

    def summary(self) -> dict:
        """metrics.json: counts, timings and each system's defined metrics."""
        return {"name": self.name, "utterances": self.utterances, "conversations": self.conversations,
                "replay_seconds": round(self.seconds, 2), "primary_decodes": self.primary_decodes,
                "primary_decode_seconds": round(self.primary_decode_seconds, 2),
                "systems": {system: _finite(values) for system, values in self.metrics.items()}}

    def tracked_metrics(self) -> dict[str, float]:
        """The run's metrics by the names the report reads (``<system>.<metric>``)."""
        return {**{f"{system}.{key}": value for system, values in self.metrics.items()
                   for key, value in _finite(values).items()},
                "replay_seconds": self.seconds, "primary_decodes": float(self.primary_decodes)}

    def tracked_ratios(self) -> UtteranceRatios:
        """ratios.json: every system's per-commit rates by the names ``tracked_metrics`` logs."""
        first = self.ratios[self.systems[0].name]
        return UtteranceRatios(first.ids, {f"{system}.{metric}": pair for system, rates in self.ratios.items()
                                           for metric, pair in rates.metrics.items()})

    def table(self) -> str:
        return render_table(self.name, self.systems, self.metrics, self.utterances, self.conversation_size)


def replay(model, utterances: Sequence[Utterance], manifest_dir: Path, config: S1S2ReplayConfig, name: str,
           keywords: Sequence[str] | None = None, progress: Callable[[int], None] = lambda done: None) -> ReplayResult:
    """Replay ``utterances`` (audio under ``manifest_dir``) through every system of ``config``;
    ``keywords`` replaces each conversation's hotwords as the room keywords; ``progress`` gets the
    number of utterances of each finished conversation."""
    systems = tuple(SYSTEMS[s] for s in config.systems)
    scorer = Scorer.from_config(config.score)
    engine = Replay(model, config, systems, scorer, keywords)
    groups = conversations(utterances, config.conversation_size)
    started = time.perf_counter()
    for index, conversation in enumerate(groups):
        engine.run_conversation(index, conversation, manifest_dir)
        progress(len(conversation))
    elapsed = time.perf_counter() - started
    ratios = engine.ratios()
    return ReplayResult(name, systems, config.conversation_size, len(utterances), len(groups), elapsed,
                        engine.decoder.decodes, engine.decoder.seconds, engine.metrics(ratios, config.intervals),
                        list(engine.traces()), ratios)
