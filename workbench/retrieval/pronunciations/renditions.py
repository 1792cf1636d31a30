"""How each term is spoken: its clips' sentences, voices and effects, planned from a seed, and
their synthesis.

A term gets ``alone`` clips (the term by itself), ``carrier`` clips (RADA's carrier sentences,
"I heard about {word} today.") and ``sentence`` clips (a sentence of the default corpus's
training manifest with its hotword replaced by the term, so the local and CIF losses get a span
inside real context). ``switched`` clips (code-switching, off by default) put the term into a
training sentence of another language's corpus pair (cmn_eng, vie_eng: their English hotword
replaced) and speak it the way ``workbench corpus`` speaks those pairs: the sentence's own
language by its voice (``switch_voices``), the term by the clip's voice, span by span
(``workbench.corpus.default_corpus.plan_segments``), joined by its ``join_segments``. Every
clip of a term is spoken by a different voice while there are voices left (a seeded
permutation of ``voices``: TTS engine specs such as ``piper:1.2`` or ``espeak:en-us+f2:170:70``),
and some clips get seeded effects: speed perturbation by resampling (tempo and pitch together,
like sox's ``speed``) and additive white or pink noise at a seeded SNR.

Everything a clip is made of comes from a generator seeded by (seed, term): the same seed gives
the same clips whatever the batch, order or size of the corpus.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from workbench.corpus.default_corpus import PairSpec, join_segments, plan_segments
from workbench.corpus.marked_text import MarkedSentence
from workbench.data import Utterance
from workbench.errors import InputError
from workbench.retrieval.data import find_span
from workbench.retrieval.pronunciations.terms import Exclusion, Term
from workbench.retrieval.rada import WORD_SLOT, fill_carrier

ALONE, CARRIER, SENTENCE, SWITCHED = "alone", "carrier", "sentence", "switched"
KINDS = (ALONE, CARRIER, SENTENCE, SWITCHED)
NOISE_COLORS = ("white", "pink")
# Piper joe-us at three length scales and espeak-ng variants (the Caribbean and Scottish voices were
# left out: Whisper base heard few of their terms at all)
ENGLISH_VOICES = (
    "piper", "piper:0.85", "piper:1.2",
    "espeak:en-us:160", "espeak:en-gb:150:40", "espeak:en-us+m3:140:60", "espeak:en-us+f2:170:70",
)


@dataclass(frozen=True)
class Renditions:
    """Clips per term of each kind."""

    alone: int = 1  # the term by itself
    carrier: int = 1  # in distinct carrier sentences
    sentence: int = 1  # in distinct sentences of the training manifest, its hotword replaced
    switched: int = 0  # in distinct sentences of another language's training manifest (code-switching)

    def __post_init__(self) -> None:
        if min(self.alone, self.carrier, self.sentence, self.switched) < 0 or self.total < 1:
            raise ValueError(f"renditions must be >= 0 and at least one clip a term, got {self}")

    @property
    def total(self) -> int:
        return self.alone + self.carrier + self.sentence + self.switched

    def kinds(self) -> tuple[str, ...]:
        return (ALONE,) * self.alone + (CARRIER,) * self.carrier + (SENTENCE,) * self.sentence + (
            SWITCHED,) * self.switched


@dataclass(frozen=True)
class Effects:
    """Seeded audio effects, each applied to a share of the clips."""

    speed_share: float = 0.5  # clips resampled to play faster or slower
    speed_range: tuple[float, float] = (0.9, 1.1)  # speed factor, drawn uniformly (rounded to 0.01)
    noise_share: float = 0.5  # clips with additive noise
    snr_range: tuple[float, float] = (10.0, 30.0)  # dB over the whole clip's power, drawn uniformly
    noise_colors: tuple[str, ...] = NOISE_COLORS

    def __post_init__(self) -> None:
        for name in ("speed_share", "noise_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"effects.{name} must be in [0, 1], got {getattr(self, name)}")
        low, high = self.speed_range
        if not 0.5 <= low <= high <= 2.0:
            raise ValueError(f"effects.speed_range must be 0.5 <= low <= high <= 2, got {list(self.speed_range)}")
        if self.snr_range[0] > self.snr_range[1]:
            raise ValueError(f"effects.snr_range must be (low, high), got {list(self.snr_range)}")
        unknown = [c for c in self.noise_colors if c not in NOISE_COLORS]
        if not self.noise_colors or unknown:
            raise ValueError(f"effects.noise_colors: choose from {list(NOISE_COLORS)}, got {list(self.noise_colors)}")


def sentence_carriers(carriers: Sequence[str]) -> tuple[str, ...]:
    """The distinct carriers with words around the slot ("{word}." alone is an ``alone`` clip)."""
    return tuple(c for c in dict.fromkeys(carriers) if re.search(r"\w", c.replace(WORD_SLOT, "")))


@dataclass(frozen=True)
class CorpusOptions:
    """The library's view of ``PronunciationsConfig``: what decides the clips."""

    renditions: Renditions = Renditions()
    carriers: tuple[str, ...] = ("I heard about {word} today.",)
    voices: tuple[str, ...] = ENGLISH_VOICES
    effects: Effects = Effects()
    seed: int = 0
    shard_size: int = 500  # terms per clips/ subdirectory
    batch_size: int = 16  # terms per synthesis batch
    language: str = "en"  # the terms' language: sentences in it are ``sentence`` templates
    # switched clips: the voices of the other languages' sentences (language -> engine specs)
    switch_voices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "switch_voices", {k: tuple(v) for k, v in dict(self.switch_voices).items()})
        if not all(self.switch_voices.values()):
            raise ValueError(f"switch_voices: every language needs a voice, got {self.switch_voices}")
        if any(WORD_SLOT not in c for c in self.carriers):
            raise ValueError(f"every carrier needs a {WORD_SLOT} slot, got {list(self.carriers)}")
        usable = len(sentence_carriers(self.carriers))
        if self.renditions.carrier > usable:
            raise ValueError(f"renditions.carrier {self.renditions.carrier} exceeds the {usable} carriers with words "
                             "around the slot")
        if not self.voices or len(set(self.voices)) != len(self.voices):
            raise ValueError(f"voices must be distinct TTS engine specs, got {list(self.voices)}")
        if self.shard_size < 1 or self.batch_size < 1:
            raise ValueError(f"shard_size and batch_size must be >= 1, got {self.shard_size}, {self.batch_size}")


# --- sentence templates --------------------------------------------------------------------------


@dataclass(frozen=True)
class SentenceTemplate:
    """A training sentence and the span of the hotword a term replaces."""

    source: str  # the utterance id
    text: str
    start: int
    end: int
    language: str = ""  # the sentence's (its utterance's) language
    spans: tuple[tuple[int, int], ...] = ()  # its other embedded-language spans (code-switched pairs)

    def fill(self, phrase: str) -> str:
        return self.text[: self.start] + phrase + self.text[self.end:]

    def filled_spans(self, phrase: str) -> tuple[tuple[int, int], ...]:
        """The embedded-language spans of ``fill(phrase)``: the phrase's and the others, in order."""
        shift = len(phrase) - (self.end - self.start)
        others = ((s + shift, e + shift) if s >= self.end else (s, e) for s, e in self.spans)
        return tuple(sorted(((self.start, self.start + len(phrase)), *others)))


def sentence_templates(utterances: Iterable[Utterance], exclusion: Exclusion) -> tuple[SentenceTemplate, ...]:
    """One template per annotated hotword found in its sentence; a sentence that mentions an
    excluded hotword outside that span is left out (its audio would speak an evaluation hotword)."""
    templates: dict[tuple[str, int, int], SentenceTemplate] = {}
    for utt in utterances:
        for hotword in utt.hotwords:
            span = find_span(utt.text, hotword)
            if span is None:
                continue
            others = tuple((s.start, s.end) for s in utt.spans if s.end <= span[0] or s.start >= span[1])
            template = SentenceTemplate(utt.id, utt.text, *span, utt.language, others)
            if not exclusion.mentioned_in(template.fill(" ")):
                templates.setdefault((utt.text, *span), template)
    return tuple(templates.values())


# --- plans ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipPlan:
    """One clip: what is written (``text``), what TTS is given (``spoken``), by which voice, and
    its effects. ``audio``: its path below the corpus's clips/ directory."""

    id: str
    term: Term
    kind: str
    text: str
    spoken: str
    voice: str
    template: str  # the carrier or the source utterance id ("" for alone)
    speed: float  # 1.0: unchanged
    snr_db: float | None  # None: no noise
    noise: str | None
    noise_seed: int
    shard: str
    # switched clips: (voice, text) spoken in turn and joined, the sentence's language, the spans of
    # ``text`` in the terms' language (the term's and the sentence's other embedded spans)
    segments: tuple[tuple[str, str], ...] = ()
    language: str = ""
    spans: tuple[tuple[int, int], ...] = ()

    @property
    def audio(self) -> str:
        return f"{self.shard}/{self.id}.wav"


def term_rng(term: Term, seed: int) -> random.Random:
    digest = hashlib.sha256(f"pronunciations\0{seed}\0{term.key}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def clip_id(term: Term, rendition: int) -> str:
    """Readable and unique: a slug of the term plus a hash of its key."""
    slug = re.sub(r"\W+", "_", term.text).strip("_")[:40] or "term"
    return f"pron-{slug}-{hashlib.sha1(term.key.encode()).hexdigest()[:8]}-{rendition}"


def split_templates(templates: Sequence[SentenceTemplate], options: CorpusOptions
                    ) -> tuple[list[SentenceTemplate], list[SentenceTemplate]]:
    """The ``sentence`` templates (the terms' language, or one without a switch voice) and the
    ``switched`` ones (another language with a voice in ``switch_voices``)."""
    def is_switched(t: SentenceTemplate) -> bool:
        return t.language != options.language and t.language in options.switch_voices

    return [t for t in templates if not is_switched(t)], [t for t in templates if is_switched(t)]


def switched_segments(template: SentenceTemplate, term: Term, matrix_voice: str, term_voice: str
                      ) -> tuple[tuple[str, str], ...]:
    """(voice, text) of a term inside another language's sentence, split as the corpus stage
    splits a code-switched sentence (``plan_segments``): the term and the sentence's other
    embedded spans by ``term_voice``, the rest by ``matrix_voice``."""
    sentence = MarkedSentence(template.fill(term.spoken), template.filled_spans(term.spoken))
    pair = PairSpec("pronunciations", template.language, "", matrix_voice, term_voice, True, True)
    return tuple(plan_segments(sentence, pair))


def plan_term(term: Term, index: int, templates: Sequence[SentenceTemplate], options: CorpusOptions,
              switches: Sequence[SentenceTemplate] = ()) -> tuple[ClipPlan, ...]:
    """The clips of ``term`` (the ``index``-th term: its shard); ``switches``: the templates of
    its switched clips."""
    rng = term_rng(term, options.seed)
    kinds = options.renditions.kinds()
    voices = rng.sample(options.voices, len(options.voices))
    carriers = rng.sample(sentence_carriers(options.carriers), options.renditions.carrier)
    sentences = rng.sample(templates, options.renditions.sentence)
    switched = rng.sample(switches, options.renditions.switched) if options.renditions.switched else []
    shard = f"{index // options.shard_size:04d}"
    plans = []
    for k, kind in enumerate(kinds):
        voice, extra = voices[k % len(voices)], {}
        if kind == SWITCHED:
            sentence = switched.pop()
            text, spoken, template = sentence.fill(term.text), sentence.fill(term.spoken), sentence.source
            segments = switched_segments(sentence, term, rng.choice(options.switch_voices[sentence.language]), voice)
            voice = "+".join(sorted({v for v, _ in segments}))  # as the corpus stage names a mixed speaker
            extra = {"segments": segments, "language": sentence.language, "spans": sentence.filled_spans(term.text)}
        elif kind == ALONE:
            text, spoken, template = term.text, term.spoken, ""
        elif kind == CARRIER:
            carrier = carriers.pop()
            text, spoken, template = fill_carrier(carrier, term.text), fill_carrier(carrier, term.spoken), carrier
        else:
            sentence = sentences.pop()
            text, spoken, template = sentence.fill(term.text), sentence.fill(term.spoken), sentence.source
        effects = options.effects
        speed = round(rng.uniform(*effects.speed_range), 2) if rng.random() < effects.speed_share else 1.0
        noisy = rng.random() < effects.noise_share
        snr = round(rng.uniform(*effects.snr_range), 1) if noisy else None
        noise = rng.choice(effects.noise_colors) if noisy else None
        plans.append(ClipPlan(clip_id(term, k + 1), term, kind, text, spoken, voice, template,
                              speed, snr, noise, rng.getrandbits(32), shard, **extra))
    return tuple(plans)


def plan_corpus(terms: Sequence[Term], templates: Sequence[SentenceTemplate], options: CorpusOptions
                ) -> list[tuple[ClipPlan, ...]]:
    """Every term's clips; ``templates``: sentences of the terms' language and, for switched
    clips, of the ``switch_voices`` languages (``split_templates``)."""
    own, switches = split_templates(templates, options)
    if options.renditions.sentence > len(own):
        raise InputError(f"renditions.sentence {options.renditions.sentence} exceeds the {len(own)} usable "
                         "sentence templates (training sentences with a hotword, none mentioning an excluded one)")
    if options.renditions.switched > len(switches):
        raise InputError(f"renditions.switched {options.renditions.switched} exceeds the {len(switches)} usable "
                         f"code-switch templates (training sentences in one of {sorted(options.switch_voices)}, "
                         f"not {options.language}: pass their manifests to --sentences)")
    return [plan_term(term, i, own, options, switches) for i, term in enumerate(terms)]


# --- effects and synthesis -----------------------------------------------------------------------


def change_speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (tempo and pitch), by resampling."""
    up, down = 100, round(100 * factor)
    divisor = gcd(up, down)
    return resample_poly(samples, up // divisor, down // divisor).astype(np.float32)


def add_noise(samples: np.ndarray, snr_db: float, color: str, rng: np.random.Generator) -> np.ndarray:
    """``samples`` plus white or pink (1/f power) noise ``snr_db`` below the clip's mean power."""
    noise = rng.standard_normal(len(samples))
    if color == "pink":
        spectrum = np.fft.rfft(noise)
        frequencies = np.fft.rfftfreq(len(noise))
        spectrum /= np.sqrt(np.maximum(frequencies, frequencies[1] if len(frequencies) > 1 else 1.0))
        noise = np.fft.irfft(spectrum, len(noise))
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / max(float(np.mean(noise ** 2)), 1e-12))
    return (samples + noise).astype(np.float32)


def apply_effects(samples: np.ndarray, plan: ClipPlan) -> np.ndarray:
    if plan.speed != 1.0:
        samples = change_speed(samples, plan.speed)
    if plan.snr_db is not None:
        samples = add_noise(samples, plan.snr_db, plan.noise or "white", np.random.default_rng(plan.noise_seed))
    return samples.astype(np.float32)


class Voices:
    """TTS engines by spec, each made once (``make``: ``workbench.tts.make_engine``)."""

    def __init__(self, make: Callable[[str], object] | None = None):
        if make is None:
            from workbench.tts import make_engine as make
        self._make, self._engines = make, {}

    def __call__(self, spec: str):
        if spec not in self._engines:
            self._engines[spec] = self._make(spec)
        return self._engines[spec]


@dataclass
class SynthesisTimings:
    tts_seconds: float = 0.0
    effects_seconds: float = 0.0


def synthesize(plans: Sequence[ClipPlan], voices: Callable[[str], object], timings: SynthesisTimings
               ) -> list[np.ndarray]:
    """The audio of ``plans`` in order: one TTS call per voice (a switched clip's segments go to
    their voices), segments joined, then each clip's effects."""
    pieces = [plan.segments or ((plan.voice, plan.spoken),) for plan in plans]
    spoken: list[list[np.ndarray | None]] = [[None] * len(p) for p in pieces]
    by_voice: dict[str, list[tuple[int, int]]] = {}
    for i, segments in enumerate(pieces):
        for j, (voice, _) in enumerate(segments):
            by_voice.setdefault(voice, []).append((i, j))
    for voice, positions in by_voice.items():
        started = time.perf_counter()
        clips = voices(voice).synthesize([pieces[i][j][1] for i, j in positions])
        timings.tts_seconds += time.perf_counter() - started
        for (i, j), samples in zip(positions, clips):
            spoken[i][j] = samples
    started = time.perf_counter()
    audio = [apply_effects(join_segments(parts) if plan.segments else parts[0], plan)
             for plan, parts in zip(plans, spoken)]
    timings.effects_seconds += time.perf_counter() - started
    return audio
