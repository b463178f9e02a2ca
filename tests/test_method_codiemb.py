"""CoDiEmb recipe: loss parity with the reference code, the single-task sampler, a tiny run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_distributed import SENTS, make_tiny_bert, write_data

import workbench as wb
from workbench.errors import InvalidInputError
from workbench.training import TrainConfig, train
from workbench.training.losses.codiemb import CoDiEmbLoss, average_ranks_desc
from workbench.training.methods.codiemb import CoDiEmbTrainer

# Produced by running training/CoDiEmb/train/loss.py of TencentCloudADP/youtu-embedding at
# commit 9a0d6f342d16c4580f17884c403bfd4a73fa6fdf with this venv's torch, on the inputs built
# by _inputs() below: ContrastiveLoss(task_type="ir", temperature=0.02,
# positive_group_size=2, negative_group_size=2)(q, p); and on sim = cos(u, v), y:
# 2 * PearsonCorrelationLoss()(sim, y), 0.5 * PROLoss(temperature=0.05)(sim, y),
# 5 * RankKLDivergenceLoss(temperature=0.05)(sim, y) (the weights of train/model.py).
REFERENCE = {
    "ir": 23.59316062927246,
    "pearson": 0.9929530620574951,
    "pro": 0.4450985789299011,
    "kl": 0.21385164558887482,
}


def _inputs():
    torch.manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(3, 5), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(3 * 4, 5), dim=-1)
    u, v = torch.randn(6, 5), torch.randn(6, 5)
    y = torch.tensor([0.8, 0.2, 0.2, 1.0, 0.0, 0.6])  # a tie, to exercise average ranks
    return q, p, u, v, y


def test_loss_parity_with_reference():
    q, p, u, v, y = _inputs()
    loss = CoDiEmbLoss(n_positives=2, n_negatives=2, temperature=0.02)
    got = {"ir": float(loss.ir(q, p)), **{k: float(t) for k, t in loss.sts_terms(u, v, y).items()}}
    # float32: logits up to 1/0.02 = 50 and sums of <= 12 terms, so reduction-order error is
    # a few ulps of the largest term (50 * 2**-24 * 12 ~ 4e-5 absolute); rtol 1e-5 + atol 1e-5.
    for k, ref in REFERENCE.items():
        assert got[k] == pytest.approx(ref, rel=1e-5, abs=1e-5), k
    # ties share their average rank, as scipy.stats.rankdata(-y, "average") - 1
    assert average_ranks_desc(y).tolist() == [1.0, 3.5, 3.5, 0.0, 5.0, 2.0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("codiemb")
    make_tiny_bert(folder / "model")
    write_data(folder)
    return folder


def _config(tiny, out=None, **options):
    return TrainConfig(
        recipe="codiemb",
        base=str(tiny / "model"),
        data=str(tiny / "triplets.tsv"),
        out=str(out) if out else None,
        steps=4,
        batch_size=4,
        lr=1e-3,
        max_len=16,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=2,
        show_progress=False,
        device="cpu",
        options={"sts_data": str(tiny / "graded.tsv"), "sts_batch_size": 4, **options},
    )


def test_codiemb_trains_and_exports(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    trainer = CoDiEmbTrainer(_config(tiny, tmp_path / "run", negatives=2))
    # the sampler: 12 IR queries / 4 and 12 STS pairs / 4 -> 3 + 3 single-task batches an
    # epoch, each example once per epoch, the order a pure function of (seed, epoch)
    plan = trainer.epoch_plan(0)
    assert sorted(t for t, _ in plan) == ["ir"] * 3 + ["sts"] * 3
    for task in ("ir", "sts"):
        seen = np.concatenate([b for t, b in plan if t == task])
        assert sorted(seen.tolist()) == list(range(12))
    again = CoDiEmbTrainer.epoch_plan(trainer, 0)
    assert all(a[0] == b[0] and (a[1] == b[1]).all() for a, b in zip(plan, again))
    # an IR group: query, 1 positive tiled to 2, its own negative then another anchor's text
    g = trainer.ir_groups(0, np.array([0]))[0]
    assert g[1] == g[2] and g[3] not in g[:3] and g[4] not in g[:4]

    res = trainer.run()
    assert res.train_curve["loss"].map(np.isfinite).all()
    assert res.info["method"]["updates_per_epoch"] == {"ir": 3, "sts": 3}
    enc = wb.load_encoder(res.out)
    st = SentenceTransformer(str(res.out), device="cpu")
    np.testing.assert_allclose(
        enc.encode(SENTS, cache=False), st.encode(SENTS, convert_to_numpy=True), atol=1e-5
    )


def test_equal_balance_gives_each_task_the_same_updates(tiny):
    # 12 IR queries in batches of 4 (3 batches) vs 12 STS pairs in batches of 2 (6): "equal"
    # re-draws IR batches until both have 6 updates an epoch
    t = CoDiEmbTrainer(_config(tiny, sts_batch_size=2, balance="equal"))
    tasks = [task for task, _ in t.epoch_plan(0)]
    assert tasks.count("ir") == tasks.count("sts") == 6 == t.steps_per_epoch // 2


def test_bad_inputs_are_one_line_errors(tiny):
    with pytest.raises(InvalidInputError, match="needs triplets or pairs"):
        train("codiemb", base=str(tiny / "model"), data=str(tiny / "graded.tsv"), device="cpu")
    with pytest.raises(InvalidInputError, match="balance must be one of"):
        CoDiEmbTrainer(_config(tiny, balance="sometimes"))
    with pytest.raises(InvalidInputError, match="sts_data .* must be graded"):
        CoDiEmbTrainer(_config(tiny, sts_data=str(tiny / "triplets.tsv")))
