"""The evaluate stage end to end on committed clips: files, metrics, MLflow run."""

import json
import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import FIXTURES
from workbench.asr.options import EvaluateConfig
from workbench.cli import main
from workbench.config.loading import load_config
from workbench.errors import ConfigError
from workbench.metrics.intervals import UtteranceRatios
from workbench.metrics.options import DEFAULT_NORMALIZATION


def test_evaluate_stage_writes_outputs_and_mlflow_run(tmp_path, monkeypatch, whisper_base_path):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    main([
        "evaluate", "--manifest", "fixtures/tiny.jsonl", "--out", "out", "--name", "tiny",
        "--set", f"model={whisper_base_path}", "--set", f"tracking.uri={store}", "--set", "batch_size=2",
    ])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["name"] == "tiny" and metrics["utterances"] == 2
    assert 0 <= metrics["mer"] <= 0.25
    # bootstrap interval over the utterances next to each defined rate (issue 19)
    assert metrics["wer_ci_lo"] <= metrics["wer"] <= metrics["wer_ci_hi"]
    assert metrics["mer_ci_lo"] <= metrics["mer"] <= metrics["mer_ci_hi"]
    assert metrics["normalization"] == list(DEFAULT_NORMALIZATION)  # the chain this test set was scored with
    ratios = UtteranceRatios.from_json(json.loads((tmp_path / "out" / "ratios.json").read_text()), "ratios.json")
    assert set(ratios.ids) == {"cmn_eng-0044", "en_entities-0101"}
    numerator, denominator = ratios.metrics["mer"]
    assert numerator.sum() / denominator.sum() == metrics["mer"]  # the sums give the corpus value exactly
    hyps = [json.loads(line) for line in (tmp_path / "out" / "hypotheses.jsonl").read_text().splitlines()]
    assert [h["id"] for h in hyps] == ["cmn_eng-0044", "en_entities-0101"]
    errors = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert set(errors[0]) >= {"id", "wer", "cer", "mer", "reference_normalized", "hypothesis_normalized"}

    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("baseline").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "evaluate-tiny"
    assert run.data.metrics["mer"] == metrics["mer"]
    assert run.data.metrics["mer_ci_hi"] == metrics["mer_ci_hi"]
    assert run.data.params["evaluate.batch_size"] == "2"
    assert run.data.params["normalization"] == ",".join(DEFAULT_NORMALIZATION)
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"hypotheses.jsonl", "errors.jsonl", "metrics.json", "config.json", "ratios.json"} <= names


def test_each_test_set_declares_its_normalization_in_params():
    config = load_config(EvaluateConfig, Path(__file__).parents[1] / "params.yaml", "evaluate")
    assert config.score_for("librivox").normalization == ("width", "whisper_english", "spaces")
    assert config.score_for("en_entities") == config.score  # not declared: the section's chain
    with pytest.raises(ConfigError, match="normalization_by_test_set.x: unknown step"):
        load_config(EvaluateConfig, None, "evaluate", {"normalization_by_test_set": {"x": ["nope"]}})
