"""DSE and its cross-encoder teacher (workbench.training.methods.dse): the DSE loss against
values from running the reference code, the teacher's loss live against
sentence-transformers, tiny runs that export folders CrossEncoder / load_encoder /
SentenceTransformer read, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_distributed import SENTS, make_tiny_bert, write_data

from workbench.errors import InvalidInputError, WorkbenchError
from workbench.training import train
from workbench.training.methods.dse import DSELoss, PairHead, load_cross_encoder

# Produced by running microsoft/Distilled-Sentence-Embedding @
# 7e3e87bf6d854c45fb9e5fde6695aa9524325ae7 with this venv's torch (float64):
# models/dse_siamese_classifier.CombineSiameseHead(4, fc_dims, kind) with the weights of
# _set_weights below, inside train/trainers/dse_trainer.DSETrainer.batch_update with
# loss_fn nn.MSELoss (regression) and distillation_coeff c; the value is its "loss".
REFERENCE = [
    ("concat", [3, 1], 0.5, 0.8073408538423014),
    ("concat", [3, 1], 0.0, 0.9322398126113747),
    ("dot", [2, 1], 0.3, 0.21274105816509417),
]


def _inputs(n=5, d=4):
    u = torch.sin(torch.arange(n * d, dtype=torch.float64) * 0.37 + 0.1).reshape(n, d)
    v = torch.cos(torch.arange(n * d, dtype=torch.float64) * 0.23 - 0.4).reshape(n, d)
    y = torch.arange(n, dtype=torch.float64) / 4 * 0.9 + 0.05
    t = torch.sigmoid(torch.linspace(-1, 1, n, dtype=torch.float64)).reshape(n, 1)
    return u, v, y, t


def _set_weights(head: PairHead) -> None:
    with torch.no_grad():
        for i, layer in enumerate(head.fc):
            w = torch.sin(torch.arange(layer.weight.numel(), dtype=torch.float64) * 0.1 * (i + 1))
            layer.weight.copy_(w.reshape(layer.weight.shape))
            b = torch.arange(layer.bias.numel(), dtype=torch.float64)
            layer.bias.copy_(torch.cos(b * 0.5) * 0.1)


@pytest.mark.parametrize("kind, fc, coeff, expected", REFERENCE)
def test_dse_loss_matches_reference(kind, fc, coeff, expected):
    u, v, y, t = _inputs()
    head = PairHead(4, fc, kind).double()
    _set_weights(head)
    loss = DSELoss(head, coeff)
    loss.teacher = t
    # float64 on both sides, a handful of operations: agreement to ~1e-15 relative
    assert float(loss([u, v], y).detach()) == pytest.approx(expected, rel=1e-12)


def test_cross_encoder_loss_matches_sentence_transformers(tiny):
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    ce = CrossEncoder(str(tiny / "model"), num_labels=1, device="cpu")
    pairs = [[SENTS[i], SENTS[(i * 5 + 3) % len(SENTS)]] for i in range(6)]
    labels = torch.tensor([0.1, 0.9, 0.5, 0.0, 1.0, 0.3])
    ce.model.eval()  # no dropout: both sides see the same logits
    theirs = BinaryCrossEntropyLoss(ce)([[p[0] for p in pairs], [p[1] for p in pairs]], labels)
    enc = ce.tokenizer(
        [p[0] for p in pairs], [p[1] for p in pairs], padding=True, return_tensors="pt"
    )
    ours = torch.nn.BCEWithLogitsLoss()(ce.model(**enc).logits.squeeze(-1), labels)
    assert float(ours.detach()) == pytest.approx(float(theirs.detach()), rel=1e-6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dse")
    make_tiny_bert(folder / "model")
    write_data(folder)
    return folder


def _opts(tiny, **kw):
    opts = dict(
        base=str(tiny / "model"),
        data=str(tiny / "graded.tsv"),
        batch_size=4,
        lr=1e-3,
        max_len=16,
        steps=2,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=2,
        show_progress=False,
        device="cpu",
    )
    opts.update(kw)
    return opts


@pytest.fixture(scope="module")
def teacher(tiny):
    return train("cross-encoder", out=tiny / "teacher", **_opts(tiny)).out


def test_cross_encoder_exports_a_crossencoder_folder(teacher):
    from sentence_transformers import CrossEncoder

    import workbench as wb

    pairs = [(SENTS[0], SENTS[1]), (SENTS[2], SENTS[7])]
    theirs = CrossEncoder(str(teacher), device="cpu").predict(pairs)
    ours = load_cross_encoder(teacher).predict(pairs)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)  # sigmoid outputs of equal logits
    with pytest.raises(WorkbenchError, match="is a cross-encoder.*load_cross_encoder"):
        wb.load_encoder(teacher)


def test_cross_encoder_sts_scores_the_protocol_pairs(teacher):
    from scipy.stats import spearmanr

    from workbench.evaluation.sts import load_pairs
    from workbench.training.methods.dse import cross_encoder_sts

    res = cross_encoder_sts(teacher, "STSBenchmark", protocol="simcse")
    main = res[res["main"]]
    assert list(main["level"]) == ["all"] and set(res["protocol"]) == {"simcse"}
    pairs = load_pairs("STSBenchmark", protocol="simcse")
    pred = load_cross_encoder(teacher).predict(list(zip(pairs["sentence1"], pairs["sentence2"])))
    want = spearmanr(pred, pairs["score"]).statistic * 100
    assert float(main["spearman"].iloc[0]) == pytest.approx(want, abs=1e-9)


def test_dse_trains_and_exports(tiny, teacher, tmp_path):
    from sentence_transformers import SentenceTransformer

    import workbench as wb

    res = train("dse", out=tmp_path / "dse", options={"teacher": str(teacher)}, **_opts(tiny))
    assert np.isfinite(res.train_curve["loss"]).all()
    ours = wb.load_encoder(res.out).encode(SENTS, cache=False)
    theirs = SentenceTransformer(str(res.out), device="cpu").encode(SENTS)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_dse_bad_input(tiny, teacher):
    with pytest.raises(InvalidInputError, match="dse needs a teacher"):
        train("dse", **_opts(tiny))
    with pytest.raises(InvalidInputError, match="not a cross-encoder folder"):
        train("dse", options={"teacher": str(tiny / "model")}, **_opts(tiny))
    with pytest.raises(InvalidInputError, match="distillation_coeff must be a number in"):
        train("dse", options={"teacher": str(teacher), "distillation_coeff": 2}, **_opts(tiny))
    with pytest.raises(InvalidInputError, match="cross-encoder needs graded data"):
        train("cross-encoder", **_opts(tiny, data=str(tiny / "triplets.tsv")))
