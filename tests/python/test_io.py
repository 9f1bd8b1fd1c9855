"""attn.save_file / load_file / load_metadata (safetensors) and attn.io checkpoints: round trips of
every dtype, a file written by PyTorch, files readable by a plain numpy reader
(tools/safetensors_min.py), clear errors for bad files, and (only when torch is installed) a
comparison through PyTorch itself."""
import sys

import numpy as np
import pytest

import attn
from conftest import FIXTURES, ROOT

sys.path.insert(0, str(ROOT / "tools"))
import safetensors_min  # noqa: E402  (numpy-only reader, no torch needed)


def sample_tensors():
    return {
        "f32": attn.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)),
        "f64": attn.tensor(np.array([np.pi, -0.0, np.inf, 5e-324])),
        "i64": attn.tensor(np.array([-(2**63), -1, 0, 2**63 - 1])),
        "mask": attn.tensor([True, False, True]),
        "u8": attn.arange(256).to(attn.uint8).reshape(16, 16),
        "scalar": attn.tensor(2.5),
        "empty": attn.zeros(0, 3),
        "strided": attn.arange(12, dtype=attn.float32).reshape(3, 4).T,  # saved as its values, row-major
    }


def test_round_trip_every_dtype(tmp_path):
    ts = sample_tensors()
    path = tmp_path / "all.safetensors"
    attn.save_file(ts, path, metadata={"note": "hello", "n": 3})
    back = attn.load_file(str(path))
    assert list(back) == list(ts)  # file order is insertion order
    for k, t in ts.items():
        assert back[k].dtype is t.dtype and back[k].shape == t.shape, k
        np.testing.assert_array_equal(back[k].numpy(), t.numpy(), err_msg=k)
    assert attn.load_metadata(path) == {"note": "hello", "n": "3"}


def test_files_are_plain_safetensors(tmp_path):
    ts = sample_tensors()
    path = tmp_path / "plain.safetensors"
    attn.save_file(ts, path, metadata={"k": "v"})
    arrays, meta = safetensors_min.load(str(path))
    assert meta == {"k": "v"}
    for k, t in ts.items():
        np.testing.assert_array_equal(arrays[k], t.numpy(), err_msg=k)
    # attn's writer and the reference writer produce the same bytes (see tools/safetensors_min.py)
    ref = tmp_path / "ref.safetensors"
    safetensors_min.save(str(ref), {k: t.numpy() for k, t in ts.items()}, metadata={"k": "v"})
    assert ref.read_bytes() == path.read_bytes()


def test_reads_a_file_written_by_pytorch():
    t = attn.load_file(FIXTURES / "io" / "torch_written.safetensors")
    f32 = np.array([0.0, -0.0, 1.0, -1.5, 0.1, 1.401298464324817e-45, 3.4028234663852886e38, np.inf, -np.inf, np.nan,
                    1.1754943508222875e-38, 123456.7890625], dtype=np.float32).reshape(3, 4)
    got = t["weights.f32"].numpy()
    np.testing.assert_array_equal(got.view(np.uint32)[~np.isnan(f32)], f32.view(np.uint32)[~np.isnan(f32)])  # bit exact
    assert np.isnan(got[2, 1])
    assert t["ids.i64"].tolist() == [-(2**63), -1, 0, 1, 2**63 - 1, 1234567890123]
    assert t["mask.bool"].tolist() == [True, False, False, True, True]
    assert t["bytes.u8"].numpy().reshape(-1).tolist() == list(range(256))
    assert t["scalar"].shape == () and t["scalar"].item() == 2.5
    assert t["empty"].shape == (0, 3)
    np.testing.assert_array_equal(t["ramp"].numpy(), np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 2)


def test_bad_files_raise_with_the_file_name(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(attn.AttnError, match="nope.safetensors"):
        attn.load_file(missing)
    good = tmp_path / "good.safetensors"
    attn.save_file({"x": attn.ones(100)}, good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[:-10])
    with pytest.raises(attn.AttnError, match="truncated.safetensors"):
        attn.load_file(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\xff" * 64)
    with pytest.raises(attn.AttnError, match="garbage.safetensors"):
        attn.load_file(garbage)
    with pytest.raises(TypeError, match="'x'"):
        attn.save_file({"x": np.ones(3)}, tmp_path / "bad.safetensors")


def test_checkpoints_are_versioned_and_checked(tmp_path):
    model = attn.nn.Linear(3, 2)
    path = tmp_path / "ckpt.safetensors"
    attn.io.save_state_dict(model, path, metadata={"step": 10})
    meta = attn.load_metadata(path)
    assert meta["step"] == "10" and meta["attn_format"] == "1"
    sd = attn.io.load_state_dict(path, check_finite=True)
    assert list(sd) == ["weight", "bias"]
    bad = {"weight": attn.tensor([[np.nan, 0.0, 0.0], [0.0, 0.0, 0.0]]), "bias": attn.zeros(2)}
    attn.io.save_state_dict(bad, path)
    attn.io.load_state_dict(path)  # NaN is allowed unless asked
    with pytest.raises(attn.AttnError, match="weight"):
        attn.io.load_state_dict(path, check_finite=True)


def test_round_trip_through_pytorch(tmp_path):
    torch = pytest.importorskip("torch")  # optional: CI has no torch
    ts = sample_tensors()
    path = tmp_path / "for_torch.safetensors"
    attn.save_file(ts, path)
    loaded, _ = safetensors_min.load(str(path), torch=True)
    for k, t in ts.items():
        assert torch.equal(loaded[k], torch.from_numpy(np.array(t.numpy(), order="C"))), k
    # and back: a tensor computed by torch, read by attn
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    safetensors_min.save(str(path), {"gelu": torch.nn.functional.gelu(x), "x": x})
    back = attn.load_file(path)
    np.testing.assert_allclose(attn.functional.gelu(back["x"]).numpy(), back["gelu"].numpy(), rtol=1e-12, atol=1e-15)
