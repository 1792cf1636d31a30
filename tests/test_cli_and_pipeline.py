"""Every stage has --help; dvc.yaml's stages and params match the code; the network stays unused."""

import os
import socket
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, NetworkUsed
from workbench.cli import STAGES, build_parser


def test_help_for_every_stage():
    out = subprocess.run([sys.executable, "-m", "workbench", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for stage in STAGES:
        assert stage in out
        help_text = subprocess.run(
            [sys.executable, "-m", "workbench", stage, "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert "usage: workbench " + stage in help_text


def test_evaluate_help_lists_params():
    help_text = build_parser()._subparsers._group_actions[0].choices["evaluate"].format_help()
    assert "beam_size" in help_text and "params.yaml section 'evaluate'" in help_text


def test_dvc_stages_use_known_commands_and_params():
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    for name, stage in pipeline["stages"].items():
        body = stage.get("do", stage)
        command = body["cmd"].split()
        assert command[0] == "workbench" and command[1] in STAGES, name
        for section in body.get("params", []):
            assert section in params, (name, section)


def test_dvc_parses_the_pipeline():
    dvc = os.path.join(os.path.dirname(sys.executable), "dvc")
    out = subprocess.run([dvc, "stage", "list"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "evaluate@cmn_eng" in out and "assets" in out


def test_network_is_off():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert not any(os.environ.get(v) for v in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"))
    with pytest.raises(NetworkUsed):
        socket.create_connection(("198.51.100.1", 443), timeout=1)


def test_bad_manifest_is_a_clear_error_without_traceback(tmp_path):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"id": "a", "audio": "missing.wav", "duration": 1.0, "text": "hi", "language": "en", '
                        '"split": "test"}\n')
    result = subprocess.run(
        [sys.executable, "-m", "workbench", "evaluate", "--manifest", str(manifest), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert f"{manifest}:1: field 'audio' file not found" in result.stderr
    assert "Traceback" not in result.stderr
