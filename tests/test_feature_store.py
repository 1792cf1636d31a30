"""The one encoder-feature store on a tiny random Whisper: padded and own-length round trips (in
memory and on disk), each utterance encoded once, the fingerprint (encoder weights + layout +
layers) refusing other features, and the ``encode`` stage through the CLI: resume after a kill,
a refused rerun with another checkpoint or layout."""

import copy
import json
import shutil

import pytest
import torch

import workbench.features.provision as provision
from conftest import FIXTURES
from workbench.asr.lora import LoRAConfig, apply_lora
from workbench.asr.whisper_model import encode
from workbench.cli import main
from workbench.data import load_audio, read_manifest
from workbench.errors import InputError, MissingInputError, WorkbenchError
from workbench.features import OWN, FeatureStore, Layout, clip_mel, encoder_states, feature_fingerprint
from workbench.testing.dummies import tiny_whisper


@pytest.fixture(scope="module")
def base():
    return tiny_whisper()


class CountingEncoder:
    def __init__(self, model):
        self.clips = 0
        forward = model.encoder.forward

        def counted(x):
            self.clips += x.shape[0]
            return forward(x)

        model.encoder.forward = counted


def mels_for(ids, mel_by_id, asked=None):
    def mel_fn(positions):
        if asked is not None:
            asked.append(positions)
        return torch.stack([mel_by_id[ids[p]] for p in positions])

    return mel_fn


def refuse(positions):
    raise AssertionError(f"recomputed {positions}")


@pytest.fixture(scope="module")
def mel_by_id():
    generator = torch.Generator().manual_seed(3)
    return {f"utt-{i}": torch.randn(80, 3000, generator=generator) for i in range(4)}


@pytest.fixture(scope="module")
def clips():
    """The fixture clips by id (3.2 and 3.3 s)."""
    return {u.id: load_audio(u.audio_path(FIXTURES)) for u in read_manifest(FIXTURES / "tiny.jsonl")}


# --- padded: the ASR stages' features ---

def test_padded_store_computes_each_utterance_once(base, mel_by_id):
    model = copy.deepcopy(base)
    counter = CountingEncoder(model)
    store = FeatureStore()
    ids = ["utt-0", "utt-1", "utt-2"]
    first = store.get_or_compute(ids, mels_for(ids, mel_by_id), model)
    assert counter.clips == 3 and first.shape == (3, 1500, 64)
    assert torch.equal(first, encode(base, torch.stack([mel_by_id[i] for i in ids])))
    again = store.get_or_compute(ids, mels_for(ids, mel_by_id), model)
    assert counter.clips == 3 and torch.equal(again, first)
    asked = []
    ids = ["utt-3", "utt-1", "utt-3"]  # one new utterance, asked for once
    mixed = store.get_or_compute(ids, mels_for(ids, mel_by_id, asked), model)
    assert asked == [[0]] and counter.clips == 4 and store.encoded == 4 and len(store) == 4
    torch.testing.assert_close(mixed, encode(base, torch.stack([mel_by_id[i] for i in ids])))
    assert torch.equal(mixed[1], first[1])
    assert store.get_or_compute([], mels_for([], mel_by_id), model).shape == (0, 1500, 64)


def test_padded_disk_store_reloads_in_a_fresh_object(base, mel_by_id, tmp_path):
    ids = ["utt-0", "utt-1", "spk/ü 2"]
    mel_by_id = {**mel_by_id, "spk/ü 2": mel_by_id["utt-2"]}
    first = FeatureStore(tmp_path / "store").get_or_compute(ids, mels_for(ids, mel_by_id), base)
    reopened = FeatureStore.open(tmp_path / "store")
    assert len(reopened) == 3 and reopened.dtype == "float32"
    assert torch.equal(reopened.get_or_compute(ids[::-1], refuse, base), first.flip(0))
    assert torch.equal(reopened.stacked(ids, base), first)
    # a decoder-only LoRA leaves the encoder as it was: the base model's store serves it
    lora = apply_lora(copy.deepcopy(base), LoRAConfig(rank=4, alpha=8, scope="decoder"))
    assert torch.equal(reopened.stacked(ids, lora), first)
    with pytest.raises(InputError, match=r"1 utterance\(s\) not in it.*utt-3"):
        reopened.stacked(["utt-0", "utt-3"], base)  # reading never encodes


def test_fp16_store_halves_storage(base, mel_by_id, tmp_path):
    ids = ["utt-0", "utt-1"]
    full = FeatureStore(tmp_path / "fp32").get_or_compute(ids, mels_for(ids, mel_by_id), base)
    half = FeatureStore(tmp_path / "fp16", dtype="float16").get_or_compute(ids, mels_for(ids, mel_by_id), base)
    assert half.dtype == torch.float32  # returned in the model's dtype, rounded through float16
    torch.testing.assert_close(half, full, rtol=1e-3, atol=1e-3)
    sizes = {d: sum(f.stat().st_size for f in (tmp_path / d).glob("shard-*")) for d in ("fp32", "fp16")}
    assert sizes["fp16"] < 0.51 * sizes["fp32"]
    assert FeatureStore(tmp_path / "fp16").dtype == "float16"  # no dtype given: the store's own
    with pytest.raises(InputError, match="stores float16"):
        FeatureStore(tmp_path / "fp16", dtype="float32")


def test_store_rejects_other_encoder_weights(base, mel_by_id, tmp_path):
    ids = ["utt-0"]
    FeatureStore(tmp_path / "store").get_or_compute(ids, mels_for(ids, mel_by_id), base)
    with pytest.raises(WorkbenchError, match=f"{tmp_path / 'store'}.*other encoder weights"):
        FeatureStore(tmp_path / "store").get_or_compute(ids, mels_for(ids, mel_by_id), tiny_whisper(seed=1))
    model = copy.deepcopy(base)
    store = FeatureStore()
    store.get_or_compute(ids, mels_for(ids, mel_by_id), model)
    with torch.no_grad():
        model.encoder.blocks[0].attn.query.weight.add_(1e-3)  # as an optimizer step on the encoder would
    with pytest.raises(WorkbenchError, match="changed since"):
        store.get_or_compute(ids, mels_for(ids, mel_by_id), model)
    with pytest.raises(ValueError, match="mel_fn returned"):
        FeatureStore().get_or_compute(ids, lambda positions: torch.zeros(1, 80, 100), base)


# --- own length: the retrievers' and the speech LLM's features ---

@pytest.mark.parametrize("below_top", [0, 1])
def test_own_length_store_round_trip(base, clips, tmp_path, below_top):
    """Each clip's states at its own length (all blocks, or below the only one), float16 on disk."""
    layout = Layout(OWN, below_top)
    ids = list(clips)
    store = FeatureStore(tmp_path / "frames", layout)
    fresh = store.add(ids, lambda positions: [clip_mel(base, clips[ids[p]]) for p in positions], base)
    assert store.dtype == "float16" and store.encoded == 2 and set(fresh) == set(ids)
    loaded = FeatureStore.open(tmp_path / "frames", layout).bind(base).load(ids[::-1])
    for utt_id in ids:
        expected = encoder_states(base, clips[utt_id], 1 - below_top).to(torch.float16).float()
        assert loaded[utt_id].dtype == torch.float32 and torch.equal(loaded[utt_id], expected)
    assert loaded[ids[0]].shape == (len(clips[ids[0]]) // 320, 64)  # 50 frames per second
    assert store.add(ids, refuse, base) == {}
    meta = json.loads((tmp_path / "frames" / "meta.json").read_text())
    assert (meta["layout"], meta["layers"], meta["below_top_layers"]) == ("own", 1 - below_top, below_top)


def test_fingerprint_names_weights_layout_and_layers(base):
    fingerprints = {feature_fingerprint(base, layout) for layout in (Layout(), Layout(OWN), Layout(OWN, 1))}
    assert len(fingerprints) == 3
    assert feature_fingerprint(base, Layout(OWN, 1)).endswith("-own-layers0")
    assert feature_fingerprint(tiny_whisper(seed=1), Layout()) != feature_fingerprint(base, Layout())
    with pytest.raises(WorkbenchError, match="below_top_layers"):
        Layout("padded", 1)  # the ASR decoder reads the whole encoder's output
    with pytest.raises(WorkbenchError, match="encoder has 1 blocks"):
        FeatureStore(None, Layout(OWN, 2)).bind(base)


def test_a_store_of_another_layout_or_none_is_refused(base, clips, tmp_path):
    ids = list(clips)
    FeatureStore(tmp_path / "frames", Layout(OWN)).add(ids, lambda ps: [clip_mel(base, clips[ids[p]]) for p in ps],
                                                       base)
    with pytest.raises(InputError, match=f"{tmp_path / 'frames'} holds own-length features, not 30-s-padded"):
        FeatureStore.open(tmp_path / "frames")
    with pytest.raises(InputError, match="below the top 1"):
        FeatureStore.open(tmp_path / "frames", Layout(OWN, 1))
    with pytest.raises(MissingInputError) as missing:
        FeatureStore.open(tmp_path / "none", Layout(OWN))
    assert missing.value.args[0].startswith(f"{tmp_path / 'none'}: feature store (run `workbench encode --layout own`")
    store = FeatureStore.open(tmp_path / "frames", Layout(OWN))
    with pytest.raises(InputError, match=f"{tmp_path / 'frames'} holds own-length features of other encoder"):
        store.check(feature_fingerprint(base, Layout(OWN)).replace("-own-", "-padded-"))


# --- the encode stage ---

@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    rows = [json.loads(line) for line in (FIXTURES / "tiny.jsonl").read_text().splitlines()]
    lines = "".join(json.dumps({**r, "id": f"{r['id']}-{i}"}) + "\n" for i in range(3) for r in rows)
    (tmp_path / "fixtures" / "six.jsonl").write_text(lines)  # 6 utterances: 3 batches of 2
    for seed in (0, 1):
        model = tiny_whisper(seed)
        torch.save({"dims": model.dims.__dict__, "model_state_dict": model.state_dict()}, tmp_path / f"tiny{seed}.pt")
    return tmp_path


def encode_args(out, *extra, model="tiny0.pt"):
    return ["encode", "fixtures/six.jsonl", "fixtures/tiny.jsonl", "--out", str(out), "--set", f"model={model}",
            "--set", "batch_size=2", *extra]


def stored(directory, layout):
    store = FeatureStore.open(directory, layout)
    return store.load(sorted(store._shards))


def dying_after_first_batch(monkeypatch):
    real = provision.encode_missing

    def dying(*args):
        for count in real(*args):
            yield count
            raise KeyboardInterrupt  # like kill -9 once the first shard is written
    monkeypatch.setattr(provision, "encode_missing", dying)


@pytest.mark.parametrize(("flags", "layout"), [
    ([], Layout()), (["--layout", "own", "--trainable-layers", "1"], Layout(OWN, 1)),
])
def test_encode_stage_resumes_after_a_kill(workspace, monkeypatch, flags, layout):
    assert main(encode_args(workspace / "fresh", *flags)) == 0
    fresh = stored(workspace / "fresh", layout)
    assert len(fresh) == 8  # six.jsonl's 6 and tiny.jsonl's 2

    out = workspace / "features"
    with monkeypatch.context() as patch:
        dying_after_first_batch(patch)
        with pytest.raises(KeyboardInterrupt):
            main(encode_args(out, *flags))
    assert len(FeatureStore.open(out, layout)) == 2  # the first shard survived the kill
    encoded, real = [], FeatureStore._encode
    with monkeypatch.context() as patch:
        patch.setattr(FeatureStore, "_encode",
                      lambda self, model, mels, count: encoded.append(count) or real(self, model, mels, count))
        assert main(encode_args(out, *flags)) == 0
    assert sum(encoded) == 6  # only what the killed run had not stored
    again = stored(out, layout)
    assert again.keys() == fresh.keys() and all(torch.equal(again[k], fresh[k]) for k in fresh)
    # a third run finds everything stored and encodes nothing
    with monkeypatch.context() as patch:
        patch.setattr(FeatureStore, "_encode", refuse)
        assert main(encode_args(out, *flags)) == 0


def test_encode_stage_refuses_another_checkpoint_or_layout(workspace, capsys):
    out = workspace / "features"
    assert main(encode_args(out)) == 0
    capsys.readouterr()
    assert main(encode_args(out, model="tiny1.pt")) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("workbench encode:") and "\n" not in error
    assert str(out) in error and "other encoder weights" in error
    assert main(encode_args(out, "--layout", "own")) == 2
    assert "holds 30-s-padded features, not own-length features" in capsys.readouterr().err
    assert main(encode_args(workspace / "other", "--trainable-layers", "1")) == 2  # padded is the whole encoder
    assert "(encode --trainable-layers) needs the own-length layout" in capsys.readouterr().err
