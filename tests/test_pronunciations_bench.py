"""Every profile of params.yaml's pronunciations section loads (sizes, language, voices, options),
and benchmarks/pronunciations_bench.py measures a real (tiny) run of the stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.config.loading import load_config
from workbench.retrieval.options import PronunciationsConfig

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"
PROFILES = yaml.safe_load(PARAMS.read_text(encoding="utf-8"))["pronunciations"]["profiles"]


def test_there_is_a_demo_and_a_study_profile():
    assert {"demo", "study"} <= set(PROFILES)
    demo, study = (load_config(PronunciationsConfig, PARAMS, "pronunciations", {"profile": p})
                   for p in ("demo", "study"))
    assert demo.words < study.words and study.words >= 10_000  # the study size: 10k+ distinct words


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_pronunciations_profile_loads(profile):
    config = load_config(PronunciationsConfig, PARAMS, "pronunciations", {"profile": profile})
    assert config.profile == profile
    for key, value in PROFILES[profile].items():  # the profile's own values win over the section's
        loaded = getattr(config, key)
        assert (list(loaded) if isinstance(loaded, tuple) else loaded) == value, key
    options = config.options()
    assert options.voices and options.carriers and abs(sum(config.shares().values()) - 1.0) < 1e-9


def test_the_benchmark_measures_a_tiny_run(tmp_path):
    out = tmp_path / "bench.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "pronunciations_bench.py"), "--words", "2",
               "--params", str(PARAMS), "--sentences", "--exclude", "--exclude-list", "--work", str(tmp_path),
               "--set", "renditions.sentence=0", "--set", "voices=[piper, 'espeak:en-us:160']", "--out", str(out)]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True,
                   env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})
    result = json.loads(out.read_text())
    assert (result["terms"], result["clips"]) == (2, 4)  # alone + carrier per term
    assert result["kinds"] == {"alone": 2, "carrier": 2} and set(result["voices"]) <= {"piper", "espeak:en-us:160"}
    assert 0 < result["synthesis_seconds"] <= result["wall_seconds"]
    assert 0 < result["tts_share"] <= 1 and result["effects_share"] >= 0
    assert abs(result["tts_share"] + result["effects_share"] + result["other_share"] - 1) < 0.01
    assert result["clips_per_second"] == pytest.approx(4 / result["wall_seconds"], rel=0.01)
    assert result["audio_seconds_per_wall_second"] > 0
