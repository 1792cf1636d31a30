"""Runs land in a real (temporary) MLflow sqlite store, and on disk."""

import json

import pytest
from mlflow.tracking import MlflowClient

from workbench.tracking import DiskLogger, make_logger, tracked_run


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts go under the temp dir
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_mlflow_run_has_config_params_metrics_artifacts(store, tmp_path):
    artifact = tmp_path / "hypotheses.jsonl"
    artifact.write_text('{"id": "a"}\n')
    logger = make_logger("mlflow", "exp", "evaluate-x", store, tags={"stage": "evaluate"})
    with tracked_run(logger, {"evaluate": {"beam_size": None, "batch_size": 8}, "manifest": "m.jsonl"}):
        logger.log_metrics({"wer": 0.25, "cer": 0.1})
        logger.log_artifact(artifact)
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    assert run.info.status == "FINISHED" and run.info.run_name == "evaluate-x"
    assert run.data.params == {"evaluate.beam_size": "None", "evaluate.batch_size": "8", "manifest": "m.jsonl"}
    assert run.data.metrics == {"wer": 0.25, "cer": 0.1}
    assert run.data.tags["stage"] == "evaluate"
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["config.json", "hypotheses.jsonl"]


def test_crashing_stage_ends_failed_with_error(store):
    logger = make_logger("mlflow", "exp", "boom", store)
    with pytest.raises(ValueError):
        with tracked_run(logger, {"a": 1}):
            raise ValueError("bad manifest line 3")
    client = MlflowClient(store)
    (run,) = client.search_runs([client.get_experiment_by_name("exp").experiment_id])
    assert run.info.status == "FAILED"
    assert "bad manifest line 3" in run.data.tags["error"]


def test_disk_logger(tmp_path):
    logger = make_logger("disk", "exp", "run", str(tmp_path))
    assert isinstance(logger, DiskLogger)
    with pytest.raises(RuntimeError):
        with tracked_run(logger, {"x": {"y": 2}}):
            logger.log_metrics({"wer": 0.5}, step=3)
            raise RuntimeError("oops")
    assert json.loads((logger.dir / "config.json").read_text()) == {"x": {"y": 2}}
    assert json.loads((logger.dir / "params.json").read_text()) == {"x.y": "2"}
    assert json.loads((logger.dir / "metrics.jsonl").read_text())["wer"] == 0.5
    status = json.loads((logger.dir / "status.json").read_text())
    assert status["status"] == "FAILED" and "oops" in status["error"]


def test_unknown_backend():
    with pytest.raises(ValueError, match="mlflow or disk"):
        make_logger("wandb", "e", "r")


def test_mlflow_metric_names_with_at_signs_are_logged(store):
    from workbench.tracking.loggers import mlflow_metric_name

    assert mlflow_metric_name("own/phonetic/exact@1_recall") == "own/phonetic/exact_at_1_recall"
    assert mlflow_metric_name("a→b(c)") == "a_b_c_"
    logger = make_logger("mlflow", "exp", "names", store)
    with tracked_run(logger, {}):
        logger.log_metrics({"own/phonetic/exact@1_recall": 0.5, "lists/learned/substring@10_f1": 0.25})
    run = MlflowClient(store).get_run(logger.run_id)
    assert run.data.metrics == {"own/phonetic/exact_at_1_recall": 0.5, "lists/learned/substring_at_10_f1": 0.25}
