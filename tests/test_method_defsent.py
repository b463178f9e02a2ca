"""DefSent+ (workbench.training.methods.defsent): the entry table, its ICA rotation and the
loss against values from running the reference code, a tiny run that exports a folder both
loaders read, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_distributed import SENTS, make_tiny_bert, write_data

from workbench.errors import InvalidInputError
from workbench.training import TrainConfig, train
from workbench.training.methods.defsent import DefSentTrainer

# Produced by running ryuliuxiaodong/DefSent-Plus @ 18785dd40225984f42944116c44d5b271cde0b94
# with this venv's torch (2.13, CPU) on the model and dictionary of the `tiny` fixture below:
# GenerateEntryEmbeddings.get_and_save_entry_embedding_weight (amp), ICA-transform.py
# ICA_transform (max_iteration 1000, seed 42), and the first batch's CrossEntropyLoss of
# TrainEncoder.train_and_save_encoder (mean encoding, every row in one batch, dropout 0).
# Shims needed under transformers 5: torch.optim.AdamW for transformers.AdamW (lr 0) and
# tokenizer(...) for tokenizer.encode_plus(...); .cuda() made a no-op.
REF_ENTRY_0 = [-0.12370780110359192, -0.7800560593605042, 0.42544275522232056]
REF_ENTRY_3 = [-0.06600159406661987, -1.0645654201507568, 0.4066283702850342]
REF_ICA_ENTRY_0 = [114.09893035888672, 105.58283233642578, 146.63919067382812]
REF_LOSS = 3.6946916580200195
REF_ICA_LOSS = 75.22119140625


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("defsent")
    make_tiny_bert(folder / "model", seed=0)
    cfg_path = folder / "model" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["hidden_dropout_prob"] = cfg["attention_probs_dropout_prob"] = 0.0
    cfg_path.write_text(json.dumps(cfg))
    write_data(folder)
    n = len(SENTS)
    lines = [f"w{i}\t{SENTS[i % n]} {SENTS[(i * 7 + 1) % n]}" for i in range(40)]
    lines[3] += "<|list_more_def|>" + SENTS[5]  # an entry with two definitions
    (folder / "dict.tsv").write_text("\n".join(lines) + "\n")
    return folder


def _config(tiny, **kw):
    opts = dict(
        recipe="defsent",
        base=str(tiny / "model"),
        data=str(tiny / "dict.tsv"),
        batch_size=41,  # every definition in one batch, as the reference run
        max_len=40,
        steps=1,
        lr=1e-3,
        dropout=0.0,
        eval_data=None,
        show_progress=False,
        device="cpu",
    )
    opts.update(kw)
    return TrainConfig(**opts)


@pytest.mark.parametrize(
    "ica, entry0, loss",
    [(False, REF_ENTRY_0, REF_LOSS), (True, REF_ICA_ENTRY_0, REF_ICA_LOSS)],
)
def test_entry_table_and_loss_match_reference(tiny, ica, entry0, loss):
    trainer = DefSentTrainer(_config(tiny, options={"ica": ica}))
    table = trainer.table.weight.numpy()
    assert table.shape == (40, 32)
    # float32 sums of at most 40 token states of size O(1): relative error ~1e-6
    np.testing.assert_allclose(table[0, :3], entry0, rtol=1e-4 if ica else 1e-5, atol=1e-5)
    if not ica:
        np.testing.assert_allclose(table[3, :3], REF_ENTRY_3, rtol=1e-5, atol=1e-6)
    # ICA is iterative (tol 1e-4) on float32 input: the same algorithm and seed agree to
    # float noise, amplified by the x100 scale and the iterations, hence 1e-4 relative
    got = float(trainer.compute_loss(0).detach())
    assert got == pytest.approx(loss, rel=1e-4 if ica else 1e-5)


def test_defsent_trains_and_exports(tiny, tmp_path):
    from sentence_transformers import SentenceTransformer

    import workbench as wb

    res = train(
        "defsent",
        base=str(tiny / "model"),
        data=str(tiny / "dict.tsv"),
        out=tmp_path / "run",
        steps=4,
        batch_size=8,
        lr=1e-3,
        max_len=16,
        eval_data=str(tiny / "graded.tsv"),
        eval_every=2,
        show_progress=False,
        device="cpu",
        options={"stages": 2},
    )
    losses = res.train_curve["loss"].to_numpy()
    assert np.isfinite(losses).all() and len(losses) == 4
    info = json.loads((res.out / "workbench_training.json").read_text())
    assert info["defsent"] == {"entries": 40, "stages": 2}
    ours = wb.load_encoder(res.out).encode(SENTS, cache=False)
    theirs = SentenceTransformer(str(res.out), device="cpu").encode(SENTS)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_defsent_bad_input(tiny):
    with pytest.raises(InvalidInputError, match="needs pairs data"):
        DefSentTrainer(_config(tiny, data=str(tiny / "graded.tsv"), batch_size=4))
    with pytest.raises(InvalidInputError, match="entry_encoding must be amp"):
        DefSentTrainer(_config(tiny, options={"entry_encoding": "cls"}))
    with pytest.raises(InvalidInputError, match="stages must be a positive integer"):
        DefSentTrainer(_config(tiny, options={"stages": 0}))
    few = tiny / "few.tsv"
    few.write_text("".join(f"w{i}\t{SENTS[i]}\n" for i in range(6)))
    with pytest.raises(InvalidInputError, match="ica needs more entries than dimensions"):
        DefSentTrainer(_config(tiny, data=str(few), batch_size=4, options={"ica": True}))
