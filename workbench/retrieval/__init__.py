"""Hotword retrievers (seeds 000, 001, 002): dual encoders, CIF, GLCLAP, CLAR localized scoring,
CLSR's VQ adaptor, RADA vocabulary filtering, fuzzy augmentation, a phonetic baseline and a
vector index for vocabularies up to 100k hotwords."""
