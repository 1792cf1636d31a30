"""Metrics over one shared alignment (DESIGN.md §7). Imports only ``workbench.text``.

``Scorer`` computes the whole set per utterance (WER/CER/MER, PIER, B/U-WER, B/U-CER, KER, SACC,
digits) and ``aggregate`` sums it over a corpus; the modules hold the individual definitions.
"""

from workbench.metrics.alignment import Alignment, align, corpus_rate
from workbench.metrics.scorer import (
    CorpusScore,
    Reference,
    Scorer,
    UtteranceScore,
    aggregate,
)

__all__ = ["Alignment", "CorpusScore", "Reference", "Scorer", "UtteranceScore", "aggregate", "align", "corpus_rate"]
