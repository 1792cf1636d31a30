"""The pronunciation training corpus (issue 20): thousands of distinct hotword-like terms, none of
them an evaluation hotword (``terms``), each spoken alone, in carrier sentences and in training
sentences by every offline voice with seeded variation (``renditions``), written as a train-split
manifest by the ``pronunciations`` stage (``corpus``); Mandarin names, places and organisations
come from ``mandarin``, Vietnamese ones from ``vietnamese``."""

from workbench.retrieval.pronunciations.corpus import (
    CLIPS,
    CorpusOutcome,
    CorpusTimings,
    corpus_outcome,
    corpus_records,
    install_clips,
    pending_terms,
)
from workbench.retrieval.pronunciations.mandarin import MANDARIN_CATEGORIES, select_mandarin_terms
from workbench.retrieval.pronunciations.renditions import (
    ENGLISH_VOICES,
    ClipPlan,
    CorpusOptions,
    Effects,
    Renditions,
    Voices,
    plan_corpus,
    sentence_templates,
)
from workbench.retrieval.pronunciations.terms import (
    CATEGORIES,
    Exclusion,
    Term,
    TermSelection,
    load_exclusion,
    select_terms,
)
from workbench.retrieval.pronunciations.vietnamese import VIETNAMESE_CATEGORIES, select_vietnamese_terms

# term selection per language (``PronunciationsConfig.language``): English, Mandarin or Vietnamese categories
TERM_LANGUAGES = {"en": select_terms, "zh": select_mandarin_terms, "vi": select_vietnamese_terms}

__all__ = [
    "CATEGORIES", "CLIPS", "ENGLISH_VOICES", "MANDARIN_CATEGORIES", "TERM_LANGUAGES", "VIETNAMESE_CATEGORIES",
    "ClipPlan", "CorpusOptions", "CorpusOutcome", "CorpusTimings", "Effects", "Exclusion", "Renditions", "Term",
    "TermSelection", "Voices", "corpus_outcome", "corpus_records", "install_clips", "load_exclusion", "pending_terms",
    "plan_corpus", "select_mandarin_terms", "select_terms", "select_vietnamese_terms", "sentence_templates",
]
