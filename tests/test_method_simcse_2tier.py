"""2-Tier SimCSE recipe: stage losses vs sentence-transformers, dropout variants, resumption
in either stage, export, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_distributed import SENTS, make_tiny_bert, write_data

from workbench.errors import InvalidInputError
from workbench.training import StopTraining, read_training_info, train
from workbench.training.losses import SimCSELoss
from workbench.training.methods.simcse_2tier import Standout, curriculum_rate


def test_stage_losses_match_sentence_transformers():
    # The paper publishes no code; both tiers are SimCSE's InfoNCE, which is
    # sentence-transformers' MultipleNegativesRankingLoss at scale 1 / temperature = 20.
    # Live against the installed library (6.2.0 when this was written).
    st = pytest.importorskip("sentence_transformers.sentence_transformer.losses")
    mnrl = st.MultipleNegativesRankingLoss(model=None, scale=20.0)
    g = torch.Generator().manual_seed(0)
    a, p, n = (torch.randn(8, 16, generator=g) for _ in range(3))
    a2 = a + torch.randn(8, 16, generator=g)  # a second view, noisy enough for a loss ~1
    ours = SimCSELoss(0.05)
    for cols in ([a, a2], [a, p, n]):  # the unsupervised tier, then the supervised tier
        want = mnrl.compute_loss_from_embeddings(cols, None)
        # float32 softmax over <= 16 logits of size <= 20: a few ulp of a value ~1 (1e-6 rel)
        assert float(ours(cols)) == pytest.approx(float(want), rel=1e-5)


def test_dropout_variants():
    # Morerio et al.'s schedule: 0 at step 0, 1 - 1/e of the way at gamma * t / T = 1
    assert curriculum_rate(0.1, 0, 100) == 0.0
    assert curriculum_rate(0.1, 10, 100, gamma=10) == pytest.approx(0.1 * (1 - math.exp(-1)))
    assert curriculum_rate(0.1, 100, 100) == pytest.approx(0.1 * (1 - math.exp(-10)))
    # standout starts as plain dropout with keep 1 - p, and is the identity in expectation
    layer = Standout(4, 0.25)
    x = torch.ones(20000, 4)
    torch.manual_seed(0)
    with torch.no_grad():
        y = layer(x)
    kept = (y != 0).float().mean()
    # 80,000 Bernoulli(0.75) draws: sd of the mean 0.0015; 0.01 is > 6 sd
    assert float(kept) == pytest.approx(0.75, abs=0.01)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.02)  # 1/0.75-scaled: sd 0.002
    assert torch.equal(layer.eval()(x), x)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_2tier")
    make_tiny_bert(folder / "model")
    write_data(folder)
    return folder


def _run(tiny, out, **kw):
    opts = dict(
        base=str(tiny / "model"),
        data=str(tiny / "triplets.tsv"),
        out=out,
        batch_size=4,
        lr=1e-3,
        max_len=16,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=2,
        show_progress=False,
        device="cpu",
        seed=2,
    )
    opts.update(kw)
    return train("simcse-2tier", **opts)


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(folder / "model.safetensors")


# cut once in the unsupervised tier (step 2), once in the supervised one (step 5)
@pytest.mark.parametrize("dropout, cut", [("adaptive", 2), ("curriculum", 5)])
def test_resumes_in_either_stage(tiny, tmp_path, dropout, cut):
    kw = dict(steps=6, options={"dropout": dropout, "unsup_fraction": 0.5})
    full = _run(tiny, tmp_path / "full", **kw)
    info = read_training_info(full.out)
    assert info["simcse_2tier"]["boundary_step"] == 3 and info["simcse_2tier"]["dropout"] == dropout

    def kill(step, _):
        if step == cut:
            raise StopTraining

    with pytest.raises(StopTraining):
        _run(tiny, tmp_path / "cut", callback=kill, **kw)
    resumed = _run(tiny, tmp_path / "cut", **kw)
    assert read_training_info(resumed.out)["curve"] == info["curve"]
    wa, wb_ = _weights(full.out), _weights(resumed.out)
    assert all(torch.equal(wa[k], wb_[k]) for k in wa)


def test_exports_and_loads(tiny, tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers import SentenceTransformer

    import workbench as wb

    res = _run(tiny, tmp_path / "run", steps=2)
    enc = wb.load_encoder(res.out)
    st = SentenceTransformer(str(res.out), device="cpu")
    np.testing.assert_allclose(
        enc.encode(SENTS, cache=False), st.encode(SENTS, convert_to_numpy=True), atol=1e-5
    )


def test_bad_input_is_one_line_error(tiny, tmp_path):
    with pytest.raises(InvalidInputError, match="triplets or pairs") as e:
        _run(tiny, tmp_path / "a", steps=1, data=str(tiny / "graded.tsv"))
    assert "\n" not in str(e.value)
    with pytest.raises(InvalidInputError, match="dropout must be one of"):
        _run(tiny, tmp_path / "b", steps=1, options={"dropout": "gaussian"})
    with pytest.raises(InvalidInputError, match="unsup_fraction"):
        _run(tiny, tmp_path / "c", steps=1, options={"unsup_fraction": 1.5})
