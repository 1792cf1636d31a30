"""The retrieval stages' params sections (workbench.retrieval.options) and the typed sections of a
retriever experiment YAML (losses, architecture): validated on construction, errors naming where."""

from __future__ import annotations

import pytest

from conftest import REPO
from workbench.config import ConfigError, load_config
from workbench.retrieval.experiment import LossWeights, load_retriever_experiment
from workbench.retrieval.models import ArchitectureConfig
from workbench.retrieval.options import EvalRetrievalConfig, RadaConfig, TrainRetrieverConfig


def test_repo_params_load_into_the_retrieval_configs():
    for cls, section in ((RadaConfig, "rada"), (TrainRetrieverConfig, "train_retriever"),
                         (EvalRetrievalConfig, "eval_retrieval")):
        assert isinstance(load_config(cls, REPO / "params.yaml", section), cls)


@pytest.mark.parametrize("override, message", [
    ({"vocabularies": ["own", "many"]}, r"vocabularies: \['many'\]"),
    ({"table_vocabulary": "10000", "vocabularies": ["own", "lists"]}, "table_vocabulary '10000' is not one of"),
    ({"distractor_sources": ["fr"]}, r"distractor_sources: unknown \['fr'\]"),
    ({"ks": [0, 1]}, "ks must be positive"),
    ({"fusion_weight": 1.5}, r"fusion_weight must be in \[0, 1\]"),
    ({"fusion": "learned"}, r"fusion must be one of \['dev', 'fixed'\]"),
    ({"fusion_methods": ["minmax", "softmax"]}, r"fusion_methods: \['softmax'\]"),
    ({"fusion_steps": 0}, "fusion_steps must be >= 1"),
    ({"longform_window_seconds": 0}, "longform_window_seconds must be > 0"),
])
def test_bad_eval_settings_are_config_errors_naming_the_section(override, message):
    with pytest.raises(ConfigError, match=f"eval_retrieval: {message}"):
        load_config(EvalRetrievalConfig, None, "eval_retrieval", override)


def test_bad_rada_and_architecture_settings_stop_before_any_work():
    with pytest.raises(ConfigError, match="rada: renditions must be between 1 and the 4 distinct carriers"):
        load_config(RadaConfig, None, "rada", {"renditions": 5})
    with pytest.raises(ConfigError, match="rada: every carrier needs a {word} slot"):
        load_config(RadaConfig, None, "rada", {"carriers": ["no slot"]})
    with pytest.raises(ConfigError, match="train_retriever.architecture: text_encoder must be one of"):
        load_config(TrainRetrieverConfig, None, "train_retriever", {"architecture.text_encoder": "bert"})


def test_experiment_sections_are_typed_with_the_yaml_keys(tmp_path):
    path = tmp_path / "clsr_small.yaml"
    path.write_text("name: clsr_small\nmethod: clsr\nlosses: {asr: 0.5, quantity: 0.25, global: 0.25}\n"
                    "cif_pretrain_epochs: 1\narchitecture: {text_encoder: phonemes, decoder_layers: 1}\n")
    experiment = load_retriever_experiment(path)
    assert experiment.losses == LossWeights(global_=0.25, quantity=0.25, asr=0.5)
    assert list(experiment.loss_weights().items()) == [("asr", 0.5), ("quantity", 0.25), ("global", 0.25)]  # summed so
    base = ArchitectureConfig(symbol_dim=64, decoder_layers=3)  # params.yaml's section
    merged = experiment.architecture_over(base)
    assert (merged.text_encoder, merged.decoder_layers, merged.symbol_dim) == ("phonemes", 1, 64)
    assert experiment.params()["losses"] == {"asr": 0.5, "quantity": 0.25, "global": 0.25}  # logged as written
    assert experiment.params()["architecture"] == {"text_encoder": "phonemes", "decoder_layers": 1}


@pytest.mark.parametrize("line, message", [
    ("losses: {global: 1.0, lokal: 1.0}", r"losses: \['lokal'\] are not loss parts"),
    ("losses: {global: -1.0, local: 1.0}", "non-negative weights, at least one positive"),
    ("losses: {global: 1.0}\narchitecture: {width: 3}", r"architecture.*unknown key\(s\) \['width'\]"),
    ("losses: {global: 1.0}\narchitecture: {text_encoder: bert}", "architecture: text_encoder must be one of"),
    ("losses: {global: 1.0}\ncif_pretrain_epochs: 2", "cif_pretrain_epochs needs a positive quantity loss weight"),
])
def test_bad_experiment_sections_name_the_file(tmp_path, line, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nmethod: clar\n{line}\n")
    with pytest.raises(ConfigError, match=f"bad.yaml.*{message}"):
        load_retriever_experiment(path)
