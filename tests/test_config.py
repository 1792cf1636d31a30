import pytest

from conftest import REPO
from workbench.asr.options import EvaluateConfig
from workbench.config import ConfigError, load_config, parse_overrides
from workbench.corpus.options import CorpusConfig


def test_repo_params_load_into_every_stage_config():
    for cls, section in ((EvaluateConfig, "evaluate"), (CorpusConfig, "corpus")):
        assert isinstance(load_config(cls, REPO / "params.yaml", section), cls)


def test_overrides_and_nested_sections(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("evaluate:\n  batch_size: 4\n  tracking: {experiment: x}\n")
    config = load_config(EvaluateConfig, params, "evaluate", parse_overrides(["beam_size=5", "tracking.backend=disk"]))
    settings = (config.batch_size, config.beam_size, config.tracking.experiment, config.tracking.backend)
    assert settings == (4, 5, "x", "disk")


def test_unknown_key_names_file_and_key(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("evaluate:\n  batch_sise: 4\n")
    with pytest.raises(ConfigError, match=r"params.yaml:evaluate: unknown key\(s\) \['batch_sise'\]"):
        load_config(EvaluateConfig, params, "evaluate")


def test_wrong_type(tmp_path):
    with pytest.raises(ConfigError, match="batch_size"):
        load_config(EvaluateConfig, None, "evaluate", {"batch_size": "eight"})
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["beam_size"])


def test_partial_nested_override_keeps_field_default():
    config = load_config(EvaluateConfig, None, "evaluate", {"tracking.uri": "sqlite:///x.db"})
    assert (config.tracking.uri, config.tracking.experiment) == ("sqlite:///x.db", "baseline")
