"""Dataset readers against the shared SentEval data, error paths, and an offline download()."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import shutil
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from workbench import config
from workbench.datasets import (
    CLASSIFICATION_TASKS,
    PAIR_TASKS,
    STS_SUBSETS,
    STS_TASKS,
    TREC_CLASSES,
    available,
    download,
    load_classification,
    load_pairs,
    load_sts,
    load_sts_tasks,
    ptb_tokenize,
    resolve_sts_task,
    tokenize,
)
from workbench.errors import (
    DataNotFoundError,
    InvalidInputError,
    UnknownNameError,
    UnverifiedDownloadWarning,
    WorkbenchError,
)

# the submodule: ``workbench.datasets.download`` itself is the download() function
dl = importlib.import_module("workbench.datasets.download")

# Counts from /work/shared/data/README.md
STS_COUNTS = {
    ("STS12", "test"): 3108,
    ("STS13", "test"): 1500,
    ("STS14", "test"): 3750,
    ("STS15", "test"): 3000,
    ("STS16", "test"): 1186,
    ("STSBenchmark", "train"): 5749,
    ("STSBenchmark", "dev"): 1500,
    ("STSBenchmark", "test"): 1379,
    ("SICKRelatedness", "train"): 4500,
    ("SICKRelatedness", "dev"): 500,
    ("SICKRelatedness", "test"): 4927,
    ("SICKRelatedness", "all"): 9927,  # train + trial + test: MTEB's SICK-R
}
CLS_COUNTS = {
    "MR": {"all": 10662},
    "CR": {"all": 3775},
    "SUBJ": {"all": 10000},
    "MPQA": {"all": 10606},
    "SST2": {"train": 67349, "dev": 872, "test": 1821},
    "TREC": {"train": 5452, "test": 500},
}
PAIR_COUNTS = {
    ("MRPC", "train"): 4076,
    ("MRPC", "test"): 1725,
    ("SNLI", "dev"): 9842,
    ("SNLI", "test"): 9824,
}


# --------------------------------------------------------------------------- STS


@pytest.mark.parametrize(("task", "split"), sorted(STS_COUNTS))
def test_sts_counts(senteval_dir, task, split):
    df = load_sts(task, split, data_dir=senteval_dir)
    assert len(df) == STS_COUNTS[task, split]
    assert list(df.columns) == ["task", "subset", "split", "sentence1", "sentence2", "score"]
    assert df["score"].dtype == "float64"
    assert (df["task"] == task).all() and (df["split"] == split).all()
    assert not df[["sentence1", "sentence2"]].isna().any().any()
    lo, hi = (1.0, 5.0) if task == "SICKRelatedness" else (0.0, 5.0)
    assert df["score"].between(lo, hi).all()
    if task.startswith("STS1"):
        assert tuple(df["subset"].unique()) == STS_SUBSETS[task]
    if task == "STSBenchmark":
        tok = load_sts(task, split, data_dir=senteval_dir, tokenized=True)
        assert len(tok) == len(df)
        assert (tok["score"].values == df["score"].values).all()


def test_sick_all_is_the_three_files_in_order_and_strip_false_keeps_whitespace(senteval_dir):
    parts = [load_sts("SICK", s, data_dir=senteval_dir) for s in ("train", "dev", "test")]
    every = load_sts("SICK", "all", data_dir=senteval_dir)
    cols = ["sentence1", "sentence2", "score"]
    assert every[cols].equals(pd.concat(parts, ignore_index=True)[cols])
    raw = load_sts("STSBenchmark", "test", data_dir=senteval_dir, strip=False)
    stripped = load_sts("STSBenchmark", "test", data_dir=senteval_dir)
    assert (raw["sentence1"].str.strip() == stripped["sentence1"]).all()
    # the original release has 12 sentences with trailing spaces (13 characters; MTEB keeps them)
    n = sum((raw[c] != stripped[c]).sum() for c in ("sentence1", "sentence2"))
    assert n == 12


def test_sts_blank_gold_lines_are_dropped(senteval_dir):
    expected = {
        "STS15": {
            "answers-forums": 375,
            "answers-students": 750,
            "belief": 375,
            "headlines": 750,
            "images": 750,
        },
        "STS16": {
            "answer-answer": 254,
            "headlines": 249,
            "plagiarism": 230,
            "postediting": 244,
            "question-question": 209,
        },
    }
    for task, per_subset in expected.items():
        df = load_sts(task, data_dir=senteval_dir)
        assert df.groupby("subset", sort=False).size().to_dict() == per_subset
        for sub, n in per_subset.items():
            gold = senteval_dir / "STS" / f"{task}-en-test" / f"STS.gs.{sub}.txt"
            lines = gold.read_text(encoding="utf-8").splitlines()
            assert len(lines) > n  # the file has unscored (blank) lines
            assert sum(1 for x in lines if x.strip()) == n


def test_stsb_original_keeps_case_quotes_and_ignores_extra_fields(senteval_dir):
    orig = load_sts("STSBenchmark", "test", data_dir=senteval_dir)
    assert "One woman is measuring another woman's ankle." in set(orig["sentence1"])
    tok = load_sts("STSBenchmark", "test", data_dir=senteval_dir, tokenized=True)
    assert "one woman is measuring another woman ' s ankle ." in set(tok["sentence1"])
    raw = senteval_dir / "STS" / "STSBenchmark" / "stsbenchmark" / "sts-test.csv"
    n_extra = sum(1 for x in raw.read_text(encoding="utf-8").splitlines() if x.count("\t") > 6)
    assert n_extra > 0  # rows with trailing source fields exist ...
    both = pd.concat([orig["sentence1"], orig["sentence2"]])
    assert not both.str.contains("\t").any()  # ... and did not leak into the sentences
    assert not both.str.startswith("StackExchange").any()
    assert both.str.contains('"').any()  # quotes survive (no csv quoting)


def test_load_sts_tasks_concatenates(senteval_dir):
    df = load_sts_tasks(data_dir=senteval_dir)
    assert len(df) == sum(n for (t, s), n in STS_COUNTS.items() if s == "test")
    assert tuple(df["task"].unique()) == STS_TASKS
    two = load_sts_tasks(["sts-b", "sick"], split="dev", data_dir=senteval_dir)
    assert two.groupby("task", sort=False).size().to_dict() == {
        "STSBenchmark": 1500,
        "SICKRelatedness": 500,
    }


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("STSB", "STSBenchmark"),
        ("STS-B", "STSBenchmark"),
        ("sts-b", "STSBenchmark"),
        ("stsbenchmark", "STSBenchmark"),
        ("SICK", "SICKRelatedness"),
        ("SICK-R", "SICKRelatedness"),
        ("sick-r", "SICKRelatedness"),
        ("sts12", "STS12"),
        ("STS16", "STS16"),
    ],
)
def test_sts_aliases(alias, canonical):
    assert resolve_sts_task(alias) == canonical


def test_alias_gives_canonical_task_column(senteval_dir):
    df = load_sts("sts-b", "dev", data_dir=senteval_dir)
    assert set(df["task"]) == {"STSBenchmark"}
    assert set(load_sts("SICK-R", "trial", data_dir=senteval_dir)["split"]) == {"dev"}


# --------------------------------------------------------------------------- transfer tasks


@pytest.mark.parametrize("task", sorted(CLS_COUNTS))
def test_classification_counts(senteval_dir, task):
    df = load_classification(task, data_dir=senteval_dir)
    assert list(df.columns) == ["task", "split", "text", "label", "label_name"]
    assert df.groupby("split", sort=False).size().to_dict() == CLS_COUNTS[task]
    assert df["label"].dtype == "int64"
    if task in ("MR", "CR", "SUBJ", "MPQA", "SST2"):
        assert set(df["label"]) == {0, 1}


def test_binary_tasks_labels_and_blank_lines(senteval_dir):
    subj = load_classification("SUBJ", data_dir=senteval_dir)
    assert set(subj.groupby("label")["label_name"].first().items()) == {
        (0, "objective"),
        (1, "subjective"),
    }
    cr = load_classification("CR", data_dir=senteval_dir)
    assert cr["label"].value_counts().to_dict() == {1: 2407, 0: 1368}
    # SentEval keeps the blank lines of CR (4) and MPQA (3); drop_empty removes them
    assert (cr["text"] == "").sum() == 4
    assert len(load_classification("CR", data_dir=senteval_dir, drop_empty=True)) == 3771
    assert len(load_classification("mpqa", data_dir=senteval_dir, drop_empty=True)) == 10603


def test_sst5(senteval_dir):
    df = load_classification("SST5", data_dir=senteval_dir)
    assert df.groupby("split", sort=False).size().to_dict() == {
        "train": 8544,
        "dev": 1101,
        "test": 2210,
    }
    assert set(df["label"]) == {0, 1, 2, 3, 4}
    first = df.iloc[0]
    assert first["label"] == 4 and first["text"].startswith("a stirring , funny")
    assert (
        df["text"] == "4 friends , 2 couples , 2000 miles , and all the pabst blue ribbon "
        "beer they can drink - it 's the ultimate redneck road-trip ."
    ).sum() == 1


def test_trec(senteval_dir):
    df = load_classification("TREC", data_dir=senteval_dir)
    for split in ("train", "test"):
        part = df[df["split"] == split]
        assert set(part["label_name"]) == set(TREC_CLASSES)
        assert set(part["label"]) == set(range(6))
    assert all(TREC_CLASSES[y] == n for y, n in zip(df["label"], df["label_name"]))
    assert not df["text"].str.match(r"^[A-Z]+:\S+ ").any()  # the label token is gone
    assert df["text"].iloc[0] == "How did serfdom develop in and then leave Russia ?"
    assert df["text"].str.contains("sister\u00f0city").any()  # ISO-8859-1 decoded


@pytest.mark.parametrize(("task", "split"), sorted(PAIR_COUNTS))
def test_pair_counts(senteval_dir, task, split):
    df = load_pairs(task, split, data_dir=senteval_dir)
    assert len(df) == PAIR_COUNTS[task, split]
    assert list(df.columns) == [
        "task",
        "split",
        "sentence1",
        "sentence2",
        "label",
        "label_name",
    ]
    assert df["label"].dtype == "int64"


def test_mrpc_bom_and_quotes(senteval_dir):
    df = load_pairs("mrpc", "train", data_dir=senteval_dir)
    assert df["sentence1"].iloc[0].startswith("Amrozi accused his brother")
    assert df["label"].iloc[0] == 1 and set(df["label"]) == {0, 1}
    assert df["sentence1"].str.contains('"').any()


def test_snli_labels_and_missing_train(senteval_dir):
    df = load_pairs("SNLI", "dev", data_dir=senteval_dir)
    assert df["label_name"].iloc[:3].tolist() == ["neutral", "entailment", "contradiction"]
    assert df["label"].iloc[:3].tolist() == [1, 0, 2]
    with pytest.raises(DataNotFoundError, match="train split is not in this data layout") as e:
        load_pairs("SNLI", "train", data_dir=senteval_dir)
    assert "download" in str(e.value) and "\n" not in str(e.value)


def test_available(senteval_dir, tmp_path):
    df = available(senteval_dir)
    assert list(df.columns) == ["task", "kind", "present", "path"]
    assert list(df["task"]) == [*STS_TASKS, *CLASSIFICATION_TASKS, *PAIR_TASKS]
    assert df["present"].all()
    assert df.set_index("task")["kind"].to_dict()["MRPC"] == "pairs"
    empty = available(tmp_path)
    assert not empty["present"].any()


# --------------------------------------------------------------------------- bad input


def test_unknown_task_and_split(tmp_path):
    with pytest.raises(UnknownNameError, match="STSBenchmark") as e:
        load_sts("STS17", data_dir=tmp_path)
    assert "SICKRelatedness" in str(e.value)
    with pytest.raises(UnknownNameError, match="valid splits: test"):
        load_sts("STS12", "train", data_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="train, dev, test"):
        load_sts("STSB", "validation2", data_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="MR, CR"):
        load_classification("IMDB", data_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="valid splits: train, test"):
        load_pairs("MRPC", "dev", data_dir=tmp_path)
    with pytest.raises(UnknownNameError, match="MRPC, SNLI"):
        load_pairs("QQP", "train", data_dir=tmp_path)


def test_missing_folder_and_file(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as e:
        load_sts("STS12", data_dir=root)
    msg = str(e.value)
    assert str(root / "STS" / "STS12-en-test") in msg and config.DOWNLOAD_HINT in msg
    assert "\n" not in msg
    with pytest.raises(DataNotFoundError, match="TREC"):
        load_classification("TREC", data_dir=root)
    with pytest.raises(DataNotFoundError):
        load_pairs("SNLI", "train", data_dir=root)  # no SNLI folder at all: plain missing

    folder = tmp_path / "d" / "STS" / "STSBenchmark" / "stsbenchmark"
    folder.mkdir(parents=True)
    (folder / "sts-train.csv").write_text("g\tf\ty\t1\t2.0\tA.\tB.\n", encoding="utf-8")
    assert len(load_sts("STSB", "train", data_dir=tmp_path / "d")) == 1
    with pytest.raises(DataNotFoundError) as e:
        load_sts("STSB", "test", data_dir=tmp_path / "d")
    assert str(folder / "sts-test.csv") in str(e.value)


def test_malformed_files_raise_invalid_input(tmp_path):
    folder = tmp_path / "STS" / "STSBenchmark" / "stsbenchmark"
    folder.mkdir(parents=True)
    (folder / "sts-dev.csv").write_text("g\tf\ty\t1\tnot-a-number\tA.\tB.\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"sts-dev\.csv:1: score"):
        load_sts("STSB", "dev", data_dir=tmp_path)
    (folder / "sts-dev.csv").write_text("only\tthree\tfields\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="at least 7"):
        load_sts("STSB", "dev", data_dir=tmp_path)
    snli = tmp_path / "SNLI"
    snli.mkdir()
    for kind, text in (("s1", "a .\nb .\n"), ("s2", "c .\n"), ("labels", "neutral\n")):
        (snli / f"{kind}.dev").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInputError, match="must match"):
        load_pairs("SNLI", "dev", data_dir=tmp_path)


def test_data_dir_from_environment(senteval_dir, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(senteval_dir))
    assert len(load_pairs("MRPC", "test")) == 1725


# --------------------------------------------------------------------------- tokenisers


def test_ptb_tokenize_matches_senteval_sed():
    # expected outputs produced with GNU sed -f SentEval's data/downstream/tokenizer.sed
    assert ptb_tokenize('He said "I cannot go." (really)...') == (
        "He said `` I can not go. '' ( really ) ... "
    )
    assert ptb_tokenize("it's $5, isn't it?") == "it 's $ 5 , is n't it ? "


def test_tokenize_reproduces_senteval_stsb_copy(senteval_dir):
    stsb = senteval_dir / "STS" / "STSBenchmark"
    total = same = 0
    for split in ("train", "dev", "test"):
        orig = (stsb / "stsbenchmark" / f"sts-{split}.csv").read_text(encoding="utf-8")
        tok = (stsb / f"sts-{split}.csv").read_text(encoding="utf-8")
        for a, b in zip(orig.split("\n"), tok.split("\n")):
            if not a:
                continue
            fa, fb = a.split("\t"), b.split("\t")
            for k in (5, 6):
                total += 1
                same += tokenize(fa[k]) == fb[k].strip()
    assert total == 2 * (5749 + 1500 + 1379)
    assert same / total > 0.999


# --------------------------------------------------------------------------- download (offline)


def _zip(path: Path, files: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


def _targz(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


_FAKE_STSB_CSV = (
    'main-captions\tMSRvid\t2012test\t0001\t5.000\tA woman\'s ankle.\tShe said "Hi".\n'
    "main-forums\tanswer-answer\t2016\t0008\t3\tI remained.\tIt is U.S. policy.\t"
    "StackExchange Network: http://x\textra\n"
)


def _fake_sources(src: Path) -> dict[str, Path]:
    """A tiny stand-in for every file SOURCES points at, shaped like the real thing."""
    out: dict[str, Path] = {}
    subdirs = dl._STS_SUBDIRS
    for task in ("STS12", "STS13", "STS14", "STS15", "STS16"):
        files: dict[str, bytes | str] = {f"{subdirs[task]}/00-readme.txt": "readme\n"}
        prefix = "STS2016" if task == "STS16" else "STS"
        for sub in STS_SUBSETS[task]:
            inp = 'The Cat\'s hat.\tA "dog", sat!\n' + "Two men.\tTwo women.\n"
            if task == "STS16":  # extra source columns, dropped by SentEval's cut -f1/-f2
                inp = inp.replace("\n", "\tsource a\tsource b\n")
            gold = "4.2\n\n" if task in ("STS15", "STS16") else "4.2\n1\n"
            files[f"{subdirs[task]}/{prefix}.input.{sub}.txt"] = inp
            files[f"{subdirs[task]}/{prefix}.gs.{sub}.txt"] = gold
        out[task] = _zip(src / f"{task}.zip", files)
    stsb = {"stsbenchmark/readme.txt": "STS Benchmark\n", "stsbenchmark/LICENSE.txt": "lic\n"}
    for split in ("train", "dev", "test"):
        stsb[f"stsbenchmark/sts-{split}.csv"] = _FAKE_STSB_CSV
    out["STSBenchmark"] = _targz(src / "Stsbenchmark.tar.gz", stsb)
    for split in ("train", "trial", "test_annotated"):
        text = (
            "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n"
            "1\tA boy, smiling\tNo boy is smiling\t3.6\tCONTRADICTION\r\n"
        )
        out[f"SICK_{split}"] = _zip(
            src / f"sick_{split}.zip", {f"SICK_{split}.txt": text, "readme.txt": "r\n"}
        )
    out["BINCLASSIF"] = _zip(
        src / "datasmall.zip",
        {
            "data/rt10662/rt-polarity.pos": b"a caf\xe9 's good film.\nfine\n",
            "data/rt10662/rt-polarity.neg": b"bad , bad .\n",
            "data/customerr/custrev.pos": b"great !\n\nsuper\n",
            "data/customerr/custrev.neg": b"broken\n",
            "data/subj/subj.subjective": b"i love it\n",
            "data/subj/subj.objective": b"it is red\n",
            "data/mpqa/mpqa.pos": b"good\n",
            "data/mpqa/mpqa.neg": b"bad\n",
            "__MACOSX/data/._junk": b"\x00",
        },
    )
    for split in ("train", "dev", "test"):
        out[f"SST2_{split}"] = src / f"sst2-{split}"
        out[f"SST2_{split}"].write_text("a fine film \t1\nawful \t0\n", encoding="utf-8")
        out[f"SST5_{split}"] = src / f"sst5-{split}"
        out[f"SST5_{split}"].write_text("4 a fine film\n0 awful\n", encoding="utf-8")
    out["TREC_train_5500"] = src / "train_5500.label"
    out["TREC_train_5500"].write_bytes(
        b"LOC:city Which city is a sister\xf0city of `L.A.' ?\nNUM:date When did it end ?\n"
    )
    out["TREC_TREC_10"] = src / "TREC_10.label"
    out["TREC_TREC_10"].write_bytes(b"HUM:ind Who's there ?\n")
    for split in ("train", "test"):
        out[f"MRPC_{split}"] = src / f"msr_{split}.txt"
        out[f"MRPC_{split}"].write_text(
            "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
            '1\t1\t2\tHe said " hi " .\tHe greeted .\n',
            encoding="utf-8",
        )
    snli = {"__MACOSX/snli_1.0/._x": "junk"}
    head = "gold_label\tb1\tb2\tp1\tp2\tsentence1\tsentence2\tcaptionID\tpairID\tlabel1\n"
    for split in ("train", "dev", "test"):
        snli[f"snli_1.0/snli_1.0_{split}.txt"] = (
            head
            + "neutral\t_\t_\t_\t_\tTwo women, embracing.\tThe sisters hug.\tc\tp\tneutral\n"
            + "-\t_\t_\t_\t_\tNo gold.\tDropped.\tc\tp\tneutral\n"
            + "contradiction\t_\t_\t_\t_\tA man.\tA woman.\tc\tp\tx\n"
        )
    out["SNLI"] = _zip(src / "snli_1.0.zip", snli)
    assert set(out) == set(dl.SOURCES)
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fake_member_pins() -> dict[str, str]:
    """PINNED_MEMBERS for the fake archives: the same files, the fakes' contents."""
    out = {}
    for rel in dl.PINNED_MEMBERS:
        if "stsbenchmark/" in rel:
            text = _FAKE_STSB_CSV
        else:
            task = rel.split("/")[1].split("-")[0]
            text = "4.2\n\n" if task in ("STS15", "STS16") else "4.2\n1\n"
        out[rel] = _sha(text.encode())
    return out


@pytest.fixture()
def fake_net(tmp_path, monkeypatch):
    """Replace the network with local copies; record which source files were fetched. The
    pins are those of the fakes, so the verification path runs as on the real files."""
    src = tmp_path / "src"
    src.mkdir()
    sources = _fake_sources(src)
    by_url = {dl.SOURCES[key][0]: path for key, path in sources.items()}
    fetched: list[str] = []

    def fake_fetch(url: str, path: Path) -> None:
        fetched.append(url)
        shutil.copyfile(by_url[url], path)

    monkeypatch.setattr(dl, "_fetch", fake_fetch)
    pins = {k: (_sha(sources[k].read_bytes()), "fake") for k in dl.PINNED_SHA256}
    monkeypatch.setattr(dl, "PINNED_SHA256", pins)
    monkeypatch.setattr(dl, "PINNED_MEMBERS", _fake_member_pins())
    return fetched


def test_download_builds_senteval_layout(tmp_path, fake_net):
    dest = tmp_path / "data"
    assert download(dest, progress=False) == dest
    assert available(dest)["present"].all()
    assert not [p for p in dest.rglob("*") if p.name.startswith(".")]  # no temp files left

    sts12 = load_sts("STS12", data_dir=dest)
    assert len(sts12) == 2 * 5
    assert sts12["sentence1"].iloc[0] == "the cat ' s hat ."
    assert sts12["sentence2"].iloc[0] == 'a " dog " , sat !'
    assert len(load_sts("STS15", data_dir=dest)) == 5  # blank gold lines dropped
    sts16 = load_sts("STS16", data_dir=dest)
    assert list(sts16["sentence2"]) == ['a " dog " , sat !'] * 5  # renamed, extra cols cut
    assert (dest / "STS" / "STS12-en-test" / "00-readme.txt").is_file()

    stsb_dir = dest / "STS" / "STSBenchmark"
    assert (stsb_dir / "stsbenchmark" / "readme.txt").is_file()
    orig = load_sts("STSB", "test", data_dir=dest)
    assert list(orig["sentence1"]) == ["A woman's ankle.", "I remained."]
    assert orig["sentence2"].iloc[0] == 'She said "Hi".'
    tok = load_sts("STSB", "test", data_dir=dest, tokenized=True)
    assert list(tok["sentence1"]) == ["a woman ' s ankle .", "i remained ."]
    assert list(tok["sentence2"]) == ['she said " hi " .', "it is u.s. policy ."]
    tok_line = (stsb_dir / "sts-test.csv").read_text(encoding="utf-8").splitlines()[1]
    assert tok_line.count("\t") == 6  # trailing source fields dropped, as SentEval's cut

    sick = load_sts("SICK", "test", data_dir=dest)
    assert list(sick["sentence1"]) == ["A boy , smiling"] and sick["score"].iloc[0] == 3.6

    mr = load_classification("MR", data_dir=dest)
    assert list(mr["text"]) == ["a cafM-i 's good film .", "fine", "bad , bad ."]  # cat -v
    assert list(mr["label"]) == [1, 1, 0]
    assert (load_classification("CR", data_dir=dest)["text"] == "").sum() == 1
    sst2 = load_classification("SST2", data_dir=dest)
    assert sst2.groupby("split", sort=False).size().to_dict() == {"train": 2, "dev": 2, "test": 2}
    assert list(load_classification("SST5", data_dir=dest)["label"][:2]) == [4, 0]
    trec = load_classification("TREC", data_dir=dest)
    assert trec["text"].iloc[0] == "Which city is a sister\u00f0city of L.A. ?"  # sed: no ` or '
    assert trec["text"].iloc[-1] == "Whos there ?"
    assert list(trec["label_name"]) == ["LOC", "NUM", "HUM"]

    mrpc = load_pairs("MRPC", "test", data_dir=dest)
    assert mrpc["sentence1"].iloc[0] == 'He said " hi " .'
    snli = load_pairs("SNLI", "train", data_dir=dest)  # train exists after a download
    assert list(snli["label_name"]) == ["neutral", "contradiction"]  # "-" row dropped
    assert snli["sentence1"].iloc[0] == "Two women , embracing ."  # tokenizer.sed output

    # everything present: a second call fetches nothing; force fetches again
    n = len(fake_net)
    download(dest, progress=False)
    assert len(fake_net) == n
    download(dest, tasks=["MRPC"], force=True, progress=False)
    assert len(fake_net) == n + 2


def test_download_selected_tasks_and_missing_files(tmp_path, fake_net):
    dest = tmp_path / "data"
    download(dest, tasks=["sts-b", "SICK-R"], progress=False)
    assert sorted(u.rsplit("/", 1)[-1] for u in fake_net) == [
        "Stsbenchmark.tar.gz",
        "sick_test_annotated.zip",
        "sick_train.zip",
        "sick_trial.zip",
    ]
    present = available(dest).set_index("task")["present"]
    assert present["STSBenchmark"] and present["SICKRelatedness"] and not present["MR"]
    # a deleted file is fetched again; the others are kept
    (dest / "SICK" / "SICK_trial.txt").unlink()
    kept = (dest / "SICK" / "SICK_train.txt").stat().st_mtime_ns
    fake_net.clear()
    download(dest, tasks="SICK", progress=False)
    assert [u.rsplit("/", 1)[-1] for u in fake_net] == ["sick_trial.zip"]
    assert (dest / "SICK" / "SICK_train.txt").stat().st_mtime_ns == kept
    with pytest.raises(UnknownNameError, match="STS12"):
        download(dest, tasks=["nonsense"], progress=False)


def test_fetch_streams_local_url_atomically(tmp_path):
    src = tmp_path / "payload.bin"
    src.write_bytes(b"x" * 3_000_000)
    dest = tmp_path / "out" / "payload.bin"
    dl._fetch(src.as_uri(), dest)
    assert dest.read_bytes() == src.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["payload.bin"]


def test_network_failure_names_url_and_reason(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(dl.urllib.request, "urlopen", no_network)
    dest = tmp_path / "data"
    with pytest.raises(WorkbenchError) as e:
        download(dest, tasks=["MRPC"], progress=False)
    msg = str(e.value)
    assert dl.SOURCES["MRPC_train"][0] in msg
    assert "Temporary failure in name resolution" in msg
    assert not [p for p in dest.rglob("*") if p.is_file()]  # no partial files

    monkeypatch.undo()
    missing = (tmp_path / "does-not-exist.zip").as_uri()
    with pytest.raises(WorkbenchError, match="does-not-exist.zip"):
        dl._fetch(missing, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_html_error_page_instead_of_archive_tries_next_url(tmp_path, fake_net, monkeypatch):
    page = tmp_path / "error.html"
    page.write_text("<html>502 Bad Gateway</html>", encoding="utf-8")
    real = dl._fetch
    first, mirror = dl.SOURCES["STSBenchmark"]

    def flaky(url: str, path: Path) -> None:
        if url == first:
            shutil.copyfile(page, path)
        else:
            real(dl.SOURCES["STSBenchmark"][0], path)  # the fake network's tar.gz

    monkeypatch.setattr(dl, "_fetch", flaky)
    download(tmp_path / "data", tasks=["STSB"], progress=False)
    assert len(load_sts("STSB", "dev", data_dir=tmp_path / "data")) == 2

    monkeypatch.setattr(dl, "_fetch", lambda url, path: shutil.copyfile(page, path))
    with pytest.raises(WorkbenchError, match="not a zip or tar archive") as e:
        download(tmp_path / "other", tasks=["STS12"], progress=False)
    assert all(url in str(e.value) for url in dl.SOURCES["STS12"])


def test_one_failed_task_does_not_stop_the_others(tmp_path, fake_net, monkeypatch):
    ok = dl._fetch

    def sick_is_down(url: str, path: Path) -> None:
        if "sick_" in url:
            raise WorkbenchError(f"download of {url} failed: HTTP 404 Not Found")
        ok(url, path)

    monkeypatch.setattr(dl, "_fetch", sick_is_down)
    dest = tmp_path / "data"
    with pytest.raises(WorkbenchError, match="1 of 2 tasks failed") as e:
        download(dest, tasks=["SICK", "MRPC"], progress=False)
    assert "SICK: " in str(e.value) and "HTTP 404" in str(e.value)
    assert len(load_pairs("MRPC", "train", data_dir=dest)) == 1


# --------------------------------------------------------- download integrity (issue 10)


def test_https_first_for_every_source():
    for key, urls in dl.SOURCES.items():
        assert urls[0].startswith("https://"), key
        schemes = [u.split(":", 1)[0] for u in urls]
        assert schemes == sorted(schemes, key=lambda s: s != "https"), key  # http only after


def test_pins_agree_with_the_shared_copies(senteval_dir):
    """The MRPC pins come from huggingface/datasets (glue/dataset_infos.json at 040102f);
    SentEval stores those files unchanged, so the shared copy must hash to them: two
    independent sources agree. The other pins were taken from the shared copies, and this
    guards them against editing slips."""
    rel = {
        "MRPC_train": "MRPC/msr_paraphrase_train.txt",
        "MRPC_test": "MRPC/msr_paraphrase_test.txt",
        **{f"SST2_{s}": f"SST/binary/sentiment-{s}" for s in ("train", "dev", "test")},
        **{f"SST5_{s}": f"SST/fine/sentiment-{s}" for s in ("train", "dev", "test")},
    }
    for key, path in rel.items():
        assert _sha((senteval_dir / path).read_bytes()) == dl.PINNED_SHA256[key][0], key
    for path, digest in dl.PINNED_MEMBERS.items():
        assert _sha((senteval_dir / path).read_bytes()) == digest, path
    assert len(dl.PINNED_MEMBERS) == sum(len(STS_SUBSETS[t]) for t in STS_TASKS[:5]) + 3


def test_a_file_that_does_not_match_its_pin_is_refused(tmp_path, fake_net, monkeypatch):
    pins = dict(dl.PINNED_SHA256)
    pins["MRPC_train"] = ("0" * 64, "test")
    monkeypatch.setattr(dl, "PINNED_SHA256", pins)
    dest = tmp_path / "data"
    with pytest.raises(WorkbenchError, match="does not match the pinned 0000") as e:
        download(dest, tasks=["MRPC"], progress=False)
    assert dl.SOURCES["MRPC_train"][0] in str(e.value)
    assert not (dest / "MRPC" / "msr_paraphrase_train.txt").exists()


def test_an_archive_member_that_does_not_match_its_pin_is_refused(tmp_path, fake_net, monkeypatch):
    members = dict(dl.PINNED_MEMBERS)
    gold = "STS/STS12-en-test/STS.gs.MSRpar.txt"
    members[gold] = "f" * 64
    monkeypatch.setattr(dl, "PINNED_MEMBERS", members)
    dest = tmp_path / "data"
    with pytest.raises(WorkbenchError, match="STS.gs.MSRpar.txt from the archive has sha256"):
        download(dest, tasks=["STS12"], progress=False)
    assert not (dest / gold).exists()
    assert not available(dest).set_index("task")["present"]["STS12"]


def test_unpinned_downloads_warn_and_are_recorded(tmp_path, fake_net):
    dest = tmp_path / "data"
    with pytest.warns(UnverifiedDownloadWarning, match="no pinned checksum") as rec:
        download(dest, tasks=["SICK", "MRPC", "STSB"], progress=False)
    warned = " ".join(str(w.message) for w in rec)
    assert "sick_train.zip" in warned and "msr_paraphrase" not in warned
    assert "Stsbenchmark" not in warned  # every data file checked through its members
    record = json.loads((dest / dl.DOWNLOAD_RECORD).read_text())["fetched"]
    by_source = {r["source"]: r for r in record}
    assert by_source["MRPC_train"]["verified"] and by_source["MRPC_train"]["pinned"]
    assert not by_source["SICK_train"]["verified"]
    assert by_source["SICK_train"]["sha256"] == _sha(
        (tmp_path / "src" / "sick_train.zip").read_bytes()
    )


def test_strict_refuses_unpinned_files(tmp_path, fake_net):
    dest = tmp_path / "data"
    with pytest.raises(WorkbenchError, match="no pinned checksum"):
        download(dest, tasks=["SICK"], progress=False, strict=True)
    assert not (dest / "SICK" / "SICK_train.txt").exists()
    download(dest, tasks=["MRPC", "STSB"], progress=False, strict=True)  # all verified
    assert available(dest).set_index("task")["present"][["MRPC", "STSBenchmark"]].all()
