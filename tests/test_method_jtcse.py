"""JTCSE recipe: loss parity with the reference code, a tiny training run, export, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_distributed import SENTS, make_tiny_bert, write_data

from workbench.errors import InvalidInputError
from workbench.training import read_training_info, train
from workbench.training.losses.jtcse import (
    jtcse_cross_infonce,
    jtcse_infonce,
    jtcse_loss,
    jtcse_modulus,
)
from workbench.training.methods.jtcse import ca_blocks


def _inputs():
    g = torch.Generator().manual_seed(0)
    n, d = 6, 8
    cls1, cls2 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    p1, p2 = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    cls2[3] = -cls1[2]  # a negative positive-pair cosine: the reference clamps it to 1e-4
    return cls1, cls2, p1, p2


def test_loss_parity_with_reference():
    # Values printed by running model_dual.py of github.com/tianyuzong/JTCSE
    # @ 0fdda5ea24a2a21289edc128ac78338f86102804 with this venv's torch on the inputs of _inputs():
    #   unsup_infonce_loss(cls1) icnce(cls1, cls2) LTN_loss(cls1, cls2, p1, p2) LTN_loss(cls2, ...)
    # float32: losses of order 10 agree to a few ulp (~1e-6 relative); rel=1e-5 leaves margin
    # for a different summation order (the reference loops over pairs, ours is vectorised).
    cls1, cls2, p1, p2 = _inputs()
    assert float(jtcse_infonce(cls1)) == pytest.approx(12.762969970703125, rel=1e-5)
    assert float(jtcse_cross_infonce(cls1, cls2)) == pytest.approx(10.133465766906738, rel=1e-5)
    assert float(jtcse_modulus(cls1, cls2, p1, p2)) == pytest.approx(2.416550397872925, rel=1e-5)
    assert float(jtcse_modulus(cls2, cls1, p2, p1)) == pytest.approx(2.373040199279785, rel=1e-5)
    # the total is the sum train_jtcse_bert.py forms (cross terms from the same tensors here)
    total = jtcse_loss(cls1, cls2, p1, p2, cls1, cls2, swap=False)
    expect = (
        12.762969970703125
        + float(jtcse_infonce(cls2))
        + 2 * 10.133465766906738
        + 2.416550397872925
        + 2.373040199279785
    )
    assert float(total) == pytest.approx(expect, rel=1e-5)
    # odd row counts are not two views per sentence
    with pytest.raises(InvalidInputError, match="interleaved"):
        jtcse_infonce(cls1[:5])


def test_ca_blocks_equally_spaced():
    assert ca_blocks(12, 6) == [2, 4, 6, 8, 10, 12]  # the reference's default
    assert ca_blocks(6, None) == [2, 4, 6]
    assert ca_blocks(3, None) == [3]
    with pytest.raises(InvalidInputError, match="divide"):
        ca_blocks(6, 4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_jtcse")
    make_tiny_bert(folder / "model")
    write_data(folder)
    return folder


def _run(tiny, out, **kw):
    opts = dict(
        base=str(tiny / "model"),
        data=str(tiny / "graded.tsv"),
        out=out,
        batch_size=4,
        lr=1e-3,
        max_len=16,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=2,
        show_progress=False,
        device="cpu",
        seed=5,
    )
    opts.update(kw)
    return train("jtcse", **opts)


def test_trains_exports_and_resumes(tiny, tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    import workbench as wb
    from workbench.training import StopTraining

    res = _run(tiny, tmp_path / "run", steps=4)
    info = read_training_info(res.out)
    assert info["recipe"] == "jtcse" and info["jtcse"]["cross_attention_blocks"] == [3]
    losses = [r["loss"] for r in info["curve"]["train"]]
    assert len(losses) == 4 and all(np.isfinite(losses))
    enc = wb.load_encoder(res.out)
    assert enc.pooling == "cls"  # the paper's CLS pooling is the default
    st = SentenceTransformer(str(res.out), device="cpu")
    np.testing.assert_allclose(
        enc.encode(SENTS, cache=False), st.encode(SENTS, convert_to_numpy=True), atol=1e-5
    )

    # the second tower and the coin flips are in the checkpoint: a cut run resumes exactly
    def kill_after_2(step, _):
        if step == 2:
            raise StopTraining

    with pytest.raises(StopTraining):
        _run(tiny, tmp_path / "cut", steps=4, callback=kill_after_2)
    resumed = _run(tiny, tmp_path / "cut", steps=4)
    assert read_training_info(resumed.out)["curve"] == info["curve"]


def test_bad_option_is_one_line_error(tiny, tmp_path):
    with pytest.raises(InvalidInputError, match="num_ca_layers") as e:
        _run(tiny, tmp_path / "bad", steps=1, options={"num_ca_layers": 2})
    assert "\n" not in str(e.value)
    with pytest.raises(InvalidInputError, match="modulus_weight"):
        _run(tiny, tmp_path / "bad2", steps=1, options={"modulus_weight": "lots"})
