"""pytest setup for the Python bindings (run by ctest as `python.pytest`).

The module under test is the build tree's package: ctest sets PYTHONPATH=<build>/python. To run
by hand:  PYTHONPATH=build/python /usr/bin/python3 -m pytest -q tests/python
"""
import os
import pathlib

import numpy as np
import pytest

try:
    import attn
except ImportError as e:  # pragma: no cover - a setup problem, not a test failure
    raise pytest.UsageError(
        f"cannot import attn ({e}); build the `_attn` target and set PYTHONPATH=<build>/python") from e

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = pathlib.Path(os.environ.get("ATTN_FIXTURES_DIR", ROOT / "tests" / "fixtures"))


@pytest.fixture(autouse=True)
def _isolate():
    """Each test starts from seed 0 with grad mode on, and may not leak a changed thread count."""
    attn.manual_seed(0)
    threads = attn.get_num_threads()
    yield
    assert attn.is_grad_enabled(), "a test left grad mode off"
    attn.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def fixture(family, case):
    """The tensors of tests/fixtures/<family>/<case>.safetensors, as a dict (made by tools/gen_fixtures.py)."""
    path = FIXTURES / family / f"{case}.safetensors"
    if not path.exists():
        pytest.skip(f"fixture {path} is not generated")
    return attn.load_file(path)


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, msg=""):
    """np.testing.assert_allclose on tensors or arrays; prints the first mismatches on failure."""
    a = actual.detach().numpy() if isinstance(actual, attn.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, attn.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"{msg} shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg)
