"""Metrics over one shared alignment (DESIGN.md §7). Imports only ``workbench.text``."""

from workbench.metrics.alignment import Alignment, align, corpus_rate
from workbench.metrics.error_rates import ErrorRates, UtteranceErrors, error_rates, utterance_errors

__all__ = ["Alignment", "ErrorRates", "UtteranceErrors", "align", "corpus_rate", "error_rates", "utterance_errors"]
