import os
import signal
import subprocess
import sys
import textwrap

import pytest

from workbench.data.atomic import atomic_directory, atomic_path
from workbench.data.jsonl import read_jsonl, write_jsonl


def test_failed_write_keeps_previous_output(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"id": 1}])

    def records():
        yield {"id": 2}
        raise RuntimeError("stage crashed half-way")

    with pytest.raises(RuntimeError):
        write_jsonl(target, records())
    assert list(read_jsonl(target)) == [{"id": 1}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_failed_directory_build_leaves_no_output(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_directory(tmp_path / "corpus") as tmp:
            (tmp / "half.wav").write_bytes(b"x")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_directory_replaces_previous(tmp_path):
    for content in ("old", "new"):
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "f").write_text(content)
    assert (tmp_path / "d" / "f").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_sigkill_mid_write_leaves_no_target(tmp_path):
    """A process killed with SIGKILL while writing never leaves a truncated target behind."""
    target = tmp_path / "metrics.json"
    script = textwrap.dedent(
        f"""
        import sys, time
        from workbench.data.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            with open(tmp, "w") as handle:
                handle.write('{{"wer": 0.1')
                handle.flush()
                print("writing", flush=True)
                time.sleep(60)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not target.exists()


def test_atomic_path_success(tmp_path):
    with atomic_path(tmp_path / "sub" / "x.txt") as tmp:
        tmp.write_text("done")
    assert (tmp_path / "sub" / "x.txt").read_text() == "done"
