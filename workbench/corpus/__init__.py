"""Corpus builders: the synthesized default corpus and converters of real recordings."""
