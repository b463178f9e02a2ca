"""The ONNX Runtime backend (workbench.encoders.onnx): same vectors as torch, exported once.

Tolerance of the float32 comparison. ONNX Runtime computes the same graph as PyTorch with
other kernels, so the same sums in another order (and fused LayerNorm/GELU/attention). A
float32 dot product of ``n`` terms computed in two orders differs by at most about
``n * u * sum|x_i y_i|`` (``u = 2**-24``, Higham's bound); LayerNorm re-scales the states
after every sub-layer, so the relative error grows additively over the ``L`` layers rather
than multiplying. With the tiny BERT's longest dot product ``n = 64`` (the FFN's inner size)
and ``L = 3`` layers plus the embeddings, the bound is ``4 * 64 * u ~ 1.5e-5`` of the largest
value; we allow ``2e-5 * max|v|`` (measured: about 3e-7).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from workbench.encoders import load_encoder
from workbench.errors import InvalidInputError, WorkbenchError

U = 2.0**-24
TOL = 2e-5  # 4 * 64 * U rounded up; see the module docstring

TEXTS = [
    "A man is playing a flute.",
    "Rain.",
    "A band plays loud music on a crowded stage at night while people dance in the rain.",
    "Two dogs run through the snow.",
    "x",
    "The stock market fell sharply today, and analysts expect the slide to continue.",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny BERT and a cache folder holding its float32 export (done once here), with a
    stale export folder a killed process left, which that export must remove. Needs the
    [onnx] extra, which [dev] installs."""
    from test_distributed import make_tiny_bert

    folder = make_tiny_bert(tmp_path_factory.mktemp("onnx") / "bert")
    cache = tmp_path_factory.mktemp("onnx-cache")
    stale = cache / "onnx" / ".tmp-onnx-killed"
    stale.mkdir(parents=True)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    load_encoder(folder, backend="onnx", cache=cache)
    return folder, cache


def _close(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    err = float(np.abs(a - b).max())
    assert err <= TOL * float(np.abs(a).max()), err


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "mean-sqrt-len", "first-last-avg"])
def test_fp32_equals_torch_on_a_padded_batch(tiny, pooling):
    folder, cache = tiny
    ref = load_encoder(folder, pooling=pooling)
    enc = load_encoder(folder, pooling=pooling, backend="onnx", cache=cache)
    # one batch: the six texts (1 to ~20 tokens) padded to the longest
    batched = enc.encode(TEXTS, batch_size=len(TEXTS), cache=False)
    _close(ref.encode(TEXTS, batch_size=len(TEXTS), cache=False), batched)
    # each text alone (no padding) gives the same vector: the mask is honoured in the graph
    alone = np.concatenate([enc.encode([t], cache=False) for t in TEXTS[:3]])
    _close(alone, batched[:3])


def test_pooler_output_and_normalisation(tiny):
    folder, cache = tiny
    ref = load_encoder(folder, pooling="pooler", normalize=True)
    enc = load_encoder(folder, pooling="pooler", normalize=True, backend="onnx", cache=cache)
    a, b = ref.encode(TEXTS, cache=False), enc.encode(TEXTS, cache=False)
    _close(a, b)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, rtol=1e-6)


def test_second_load_reuses_the_export(tiny, monkeypatch):
    from workbench.encoders import onnx as onnx_backend

    folder, cache = tiny
    (model_file,) = (cache / "onnx").glob("*-onnx-*/model.onnx")
    before = model_file.stat().st_mtime_ns

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "_export_fp32", no_export)
    enc = load_encoder(folder, pooling="cls", backend="onnx", cache=cache)
    assert enc.onnx_path == model_file
    assert model_file.stat().st_mtime_ns == before
    assert not (cache / "onnx" / ".tmp-onnx-killed").exists()  # the killed export's folder
    assert not list((cache / "onnx").glob(".tmp-onnx-*"))


def test_int8_is_a_separate_named_approximation(tiny, monkeypatch):
    from workbench.encoders import onnx as onnx_backend

    folder, cache = tiny
    monkeypatch.setattr(onnx_backend, "_export_fp32", lambda *a, **k: pytest.fail("re-export"))
    torch_enc = load_encoder(folder)
    fp32 = load_encoder(folder, backend="onnx", cache=cache)
    int8 = load_encoder(folder, backend="onnx-int8", cache=cache)
    prints = {torch_enc.fingerprint(), fp32.fingerprint(), int8.fingerprint()}
    assert len(prints) == 3  # no two backends share cache entries
    assert int8.config()["backend"] == "onnx-int8" and "int8" in int8.config()
    assert "backend=onnx-int8" in int8.describe()
    assert int8.onnx_path.parent != fp32.onnx_path.parent
    assert int8.onnx_path.stat().st_size < fp32.onnx_path.stat().st_size / 2  # int8 weights
    v = int8.encode(TEXTS, cache=False)
    assert v.shape == (len(TEXTS), fp32.dim) and np.isfinite(v).all()
    # the embedding cache keeps each backend's own vectors
    emb_cache = cache / "embeddings"
    a = fp32.encode(TEXTS, cache=str(emb_cache))
    b = int8.encode(TEXTS, cache=str(emb_cache))
    np.testing.assert_array_equal(b, v)
    assert not np.array_equal(a, b)


def _one_line_error(exc: pytest.ExceptionInfo, *words: str) -> None:
    msg = str(exc.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_unsupported_encoders_get_a_one_line_error(tiny, tmp_path):
    folder, cache = tiny
    with pytest.raises(WorkbenchError) as e:
        load_encoder("glove-6b-50d", backend="onnx")
    _one_line_error(e, "static word vectors", "backend='torch'")
    # refused before the (slow) GGUF conversion, installed or not
    with pytest.raises(WorkbenchError) as e:
        load_encoder("smollm2-135m", backend="onnx", cache=tmp_path)
    _one_line_error(e, "GGUF", "backend='torch'")
    assert not (tmp_path / "models").exists()
    with pytest.raises(WorkbenchError) as e:
        load_encoder(tmp_path / "model.gguf", backend="onnx-int8")
    _one_line_error(e, "GGUF")
    with pytest.raises(InvalidInputError) as e:
        load_encoder(folder, layer=1, backend="onnx", cache=cache)
    _one_line_error(e, "last layer", "backend='torch'")
    with pytest.raises(InvalidInputError) as e:
        load_encoder(folder, backend="onnx", dtype="bfloat16", cache=cache)
    _one_line_error(e, "float32")
    with pytest.raises(InvalidInputError) as e:
        load_encoder(folder, backend="tensorrt")
    _one_line_error(e, "torch, onnx, onnx-int8")
    # the last layer by number is the default read-out, so it is allowed
    assert load_encoder(folder, layer=-1, backend="onnx", cache=cache).layer is None
