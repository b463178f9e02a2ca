"""Conan-embedding recipe: loss parity, CBB split over simulated ranks, dynamic mining, a tiny
run that resumes exactly and exports a folder both loaders read."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_distributed import SENTS, make_tiny_bert, write_data

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.training import StopTraining, train
from workbench.training.losses.conan import ConanLoss
from workbench.training.methods.conan import assemble, cbb_plan, local_count, refresh_negatives

# float32 sums of <= 24 exp terms with logits up to 1/0.05 = 20: agreement to ~1e-6
# relative; we allow 1e-5.
REL = 1e-5


def _batch(b=6, k=2, d=8, s=5):
    g = torch.Generator().manual_seed(3)
    ret = [torch.randn(b, d, generator=g) for _ in range(2 + k)]
    u, v = torch.randn(s, d, generator=g), torch.randn(s, d, generator=g)
    y = torch.tensor([0.1, 0.9, 0.4, 0.4, 0.7])
    return ret, (u, v, y)


def test_losses_equal_sentence_transformers():
    """Conan's retrieval InfoNCE is ST's MultipleNegativesRankingLoss (scale 1/t, columns
    [queries, positives, negatives...]); its STS term is ST's CoSENTLoss (scale 20).
    Live against sentence-transformers 6.2 (installed with the dev extra)."""
    pytest.importorskip("sentence_transformers", minversion="6.2")
    from sentence_transformers.sentence_transformer import losses as st

    ret, (u, v, y) = _batch()
    loss = ConanLoss(temperature=0.05, scale=20.0)
    mnrl = st.MultipleNegativesRankingLoss(model=None, scale=20.0)
    assert float(loss.retrieval(ret)) == pytest.approx(
        float(mnrl.compute_loss_from_embeddings(ret, None)), rel=REL
    )
    cosent = st.CoSENTLoss(model=None, scale=20.0).compute_loss_from_embeddings([u, v], y)
    assert float(loss.sts(u, v, y)) == pytest.approx(float(cosent), rel=REL)
    # CBB is the sum of the tasks present
    both = loss.cbb(ret, (u, v, y))
    assert float(both) == pytest.approx(float(loss.retrieval(ret) + loss.sts(u, v, y)), rel=REL)


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_cbb_split_over_simulated_ranks_equals_one_process(world):
    """What each process encodes under cbb_plan, padded and all-gathered (here: concatenated,
    which is what D.gather returns), reassembles into exactly the one-process batch, so the
    CBB loss is bitwise the one-process loss; processes are divided to balance texts."""
    ret, (u, v, y) = _batch()
    rows, tpr = {"retrieval": 6, "sts": 5}, {"retrieval": 4, "sts": 2}
    full = {"retrieval": torch.stack(ret, dim=1), "sts": torch.stack([u, v], dim=1)}
    plan = cbb_plan(world, rows, tpr)
    assert len(plan) == world
    width = max(local_count(p, tpr) for p in plan)
    shards = []
    for part in plan:
        local = torch.cat([full[t][a:b].reshape(-1, 8) for t, a, b in part])
        shards.append(torch.nn.functional.pad(local, (0, 0, 0, width - len(local))))
    parts = assemble(torch.cat(shards), plan, tpr)
    for t in full:
        assert torch.equal(parts[t], full[t])
    # every row of every task is encoded exactly once
    for t in rows:
        spans = sorted((a, b) for part in plan for task, a, b in part if task == t)
        assert spans[0][0] == 0 and spans[-1][1] == rows[t]
        assert all(x[1] == y_[0] for x, y_ in zip(spans, spans[1:]))
    if world >= 2:  # a process per task at least, and no process holds two tasks
        assert all(len(p) == 1 for p in plan)
        assert {p[0][0] for p in plan} == {"retrieval", "sts"}
    if world == 3:  # retrieval encodes 24 texts, STS 10: two processes go to retrieval
        assert [p[0][0] for p in plan] == ["retrieval", "retrieval", "sts"]
    loss = ConanLoss()
    r = parts["retrieval"]
    got = loss.cbb([r[:, c] for c in range(4)], (parts["sts"][:, 0], parts["sts"][:, 1], y))
    assert torch.equal(got, loss.cbb(ret, (u, v, y)))


def test_refresh_replaces_only_negatives_that_got_easy():
    sim = np.array([[0.9, 0.5, 0.4, 0.3, 0.2, 0.1]], dtype=np.float32)
    excluded = np.array([[True, False, False, False, False, False]])
    rng = np.random.default_rng(0)
    neg, init, n = refresh_negatives(sim, excluded, None, None, 2, (0, 3), rng)
    assert n == 0 and set(neg[0]) <= {1, 2, 3} and len(set(neg[0])) == 2
    assert np.allclose(init[0], sim[0, neg[0]])
    # later: slot 0's score fell from 0.5 to 0.3 (0.3 * 1.15 < 0.5, |0.3| < 0.8): replaced;
    # slot 1 (0.4 -> 0.38; 0.38 * 1.15 = 0.437 >= 0.4) stays
    now = np.array([[0.9, 0.3, 0.38, 0.35, 0.2, 0.1]], dtype=np.float32)
    cur, ini = np.array([[1, 2]]), np.array([[0.5, 0.4]], dtype=np.float32)
    neg2, init2, n2 = refresh_negatives(now, excluded, cur, ini, 2, (0, 1), rng)
    assert n2 == 1 and neg2[0, 1] == 2 and init2[0, 1] == np.float32(0.4)
    # window (0, 1): the best-ranked candidate that is not already a negative
    assert neg2[0, 0] == 3 and init2[0, 0] == np.float32(0.35)
    # a window of one leaves no choice: any generator gives the same result
    again = refresh_negatives(now, excluded, cur, ini, 2, (0, 1), np.random.default_rng(1))
    assert (again[0] == neg2).all()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conan")
    make_tiny_bert(folder / "model")
    write_data(folder)
    return folder


def _run(tiny, out, **kw):
    opts = {"sts_data": str(tiny / "graded.tsv"), "sts_batch_size": 4, "negatives": 2}
    opts.update({"mine_every": 2, "mine_window": [1, 6]})
    return train(
        "conan",
        base=str(tiny / "model"),
        data=str(tiny / "triplets.tsv"),
        out=out,
        steps=5,
        batch_size=4,
        lr=1e-3,
        max_len=16,
        dropout=0.1,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=3,
        show_progress=False,
        device="cpu",
        options=opts,
        **kw,
    )


def test_conan_trains_resumes_exactly_and_exports(tiny, tmp_path):
    """Mining every 2 steps (steps 0, 2, 4); the run is cut after step 3 (checkpoint 3) and
    resumed: its first before_step is step 3, not a mining step, so the resumed run must get
    the negatives mined at step 2 from the checkpoint's buffers, then re-mine at step 4 from
    the same weights. Curves, buffers and weights must equal the uninterrupted run's."""
    from safetensors.torch import load_file
    from sentence_transformers import SentenceTransformer

    full = _run(tiny, tmp_path / "full")

    def cut(step, info):
        if step == 3:
            raise StopTraining

    with pytest.raises(StopTraining):
        _run(tiny, tmp_path / "cut", callback=cut)
    resumed = _run(tiny, tmp_path / "cut")
    assert full.info["curve"] == resumed.info["curve"]
    assert full.info["method"]["mining_rounds"] == resumed.info["method"]["mining_rounds"]
    wa, wb_ = (
        load_file(full.out / "model.safetensors"),
        load_file(resumed.out / "model.safetensors"),
    )
    for k in wa:
        assert torch.equal(wa[k], wb_[k]), k

    enc = wb.load_encoder(full.out)
    st = SentenceTransformer(str(full.out), device="cpu")
    np.testing.assert_allclose(
        enc.encode(SENTS, cache=False), st.encode(SENTS, convert_to_numpy=True), atol=1e-5
    )


def test_bad_inputs_are_one_line_errors(tiny):
    with pytest.raises(InvalidInputError, match="needs triplets or pairs"):
        train("conan", base=str(tiny / "model"), data=str(tiny / "graded.tsv"), device="cpu")
    with pytest.raises(InvalidInputError, match="mine_window"):
        train(
            "conan",
            base=str(tiny / "model"),
            data=str(tiny / "triplets.tsv"),
            batch_size=4,
            device="cpu",
            options={"mine_window": [5, 2], "sts_data": "none"},
        )
    with pytest.raises(InvalidInputError, match="mine_every must be a positive integer"):
        train(
            "conan",
            base=str(tiny / "model"),
            data=str(tiny / "triplets.tsv"),
            batch_size=4,
            device="cpu",
            options={"mine_every": 0, "sts_data": "none"},
        )
