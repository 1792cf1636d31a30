"""One source for paths: params.yaml's ``models:`` holds each model path once; stage sections and
dvc.yaml's dependencies refer to it with ``${models.<name>}``, so changing it moves both."""

import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from workbench.config import ConfigError, load_config
from workbench.config.loading import resolve_references


def test_model_paths_are_written_once_in_params_and_never_in_dvc_yaml():
    params = (REPO / "params.yaml").read_text()
    models = yaml.safe_load(params)["models"]
    for path in models.values():
        # once in `models:`; profiles of other sizes (e.g. whisper-small for GPUs) are separate paths
        assert params.count(f" {path}\n") + params.count(f" {path} ") == 1, path
        assert path not in (REPO / "dvc.yaml").read_text(), path


def test_references_resolve_against_the_params_file(tmp_path):
    document = {"models": {"whisper": "m/w.pt"},
                "s": {"model": "${models.whisper}", "deep": {"x": ["${models.whisper}"]}}}
    assert resolve_references(document["s"], document, "p:s") == {"model": "m/w.pt", "deep": {"x": ["m/w.pt"]}}
    with pytest.raises(ConfigError, match=r"p:s: \$\{models.nothing\} refers to nothing"):
        resolve_references({"model": "${models.nothing}"}, document, "p:s")
    with pytest.raises(ConfigError, match="is a section"):
        resolve_references({"model": "${models}"}, document, "p:s")


def test_changing_a_model_path_moves_the_stage_config_and_dvc_dependency(tmp_path, monkeypatch):
    """What `dvc exp run -S models.whisper=...` does: the stages load the new path and DVC's
    dependency of every stage that used the old one is the new one."""
    from workbench.asr.options import EvaluateConfig

    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["models"]["whisper"] = "models/whisper-small.pt"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert load_config(EvaluateConfig, tmp_path / "params.yaml", "evaluate").model == "models/whisper-small.pt"
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], check=True)
    from dvc.repo import Repo

    deps = {str(dep) for stage in Repo(str(tmp_path)).index.stages if stage.name.startswith("evaluate")
            for dep in stage.deps}
    assert "models/whisper-small.pt" in deps and "models/whisper-base.pt" not in deps


def test_built_in_model_defaults_are_the_params_models():
    from workbench.config import models as defaults

    models = yaml.safe_load((REPO / "params.yaml").read_text())["models"]
    assert models == {"whisper": defaults.WHISPER, "text": defaults.TEXT_ENCODER, "lm": defaults.LM}
