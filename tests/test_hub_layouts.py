"""The Hub fallback with the real ``datasets`` library, against local copies of the pinned Hub
repositories that the test writes in their layout (``<config>/<split>/0000.parquet`` on the Parquet
export branches, ``plain_text/<split>-00000-of-00001.parquet`` for SQuAD), with the class-label
features in the Parquet schema as the Hub writes them; and the message when there is neither
local data nor a reachable Hub."""
from __future__ import annotations

import dataclasses
import socket
import time
from pathlib import Path

import pytest

datasets = pytest.importorskip("datasets")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from elmo_bench.data import sources  # noqa: E402
from elmo_bench.data.conll2003 import NerSentence, read_conll2003  # noqa: E402
from elmo_bench.data.errors import DataSourceError  # noqa: E402
from elmo_bench.data.squad import read_squad  # noqa: E402
from elmo_bench.data.sst import read_sst  # noqa: E402
from elmo_bench.data.trec import read_trec  # noqa: E402
from elmo_bench.paths import DataFolders  # noqa: E402

Features, Sequence, ClassLabel, Value = (datasets.Features, datasets.Sequence, datasets.ClassLabel,
                                         datasets.Value)
SPLITS = ("train", "validation", "test")


def _write_parquet(path: Path, features, columns: dict) -> None:
    """One Parquet file as the Hub's converter writes it: the features in the schema metadata."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pydict(columns, schema=features.arrow_schema), path)


def _repo(mirror: Path, dataset: str) -> Path:
    hub = sources.SOURCES[dataset].hub
    return mirror / f"{hub.repo_id.replace('/', '--')}@{hub.revision.replace('/', '--')}"


def _pin_rows(monkeypatch, dataset: str, rows: int) -> None:
    source = sources.SOURCES[dataset]
    splits = {split: dataclasses.replace(hub_split, rows=rows)
              for split, hub_split in source.hub.splits.items()}
    monkeypatch.setitem(sources.SOURCES, dataset, dataclasses.replace(
        source, hub=dataclasses.replace(source.hub, splits=splits)))


@pytest.fixture
def folders(tmp_path) -> DataFolders:
    """A data folder without the data; the cache in tmp_path."""
    return DataFolders(tmp_path / "no-data", tmp_path / "cache")


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """The Hub read from a local mirror in tmp_path."""
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.setenv("ELMO_BENCH_HUB_MIRROR", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_conll2003_from_the_parquet_export(mirror, folders, monkeypatch):
    features = Features({
        "id": Value("string"), "tokens": Sequence(Value("string")),
        "pos_tags": Sequence(ClassLabel(names=['"', "''", "NNP", "VBZ"])),
        "chunk_tags": Sequence(ClassLabel(names=["O", "B-ADJP", "B-NP", "I-NP", "B-VP"])),
        "ner_tags": Sequence(ClassLabel(names=["O", "B-PER", "I-PER", "B-ORG", "I-ORG"])),
    })
    for index, split in enumerate(SPLITS):
        _write_parquet(_repo(mirror, "conll2003") / "conll2003" / split / "0000.parquet", features, {
            "id": [str(index)], "tokens": [["Peter", "Blackburn", "runs"]],
            "pos_tags": [[2, 2, 3]], "chunk_tags": [[2, 3, 4]], "ner_tags": [[1, 2, 0]],
        })
    _pin_rows(monkeypatch, "conll2003", 1)
    (sentence,) = read_conll2003("dev", folders)
    assert sentence == NerSentence(("Peter", "Blackburn", "runs"), ("NNP", "NNP", "VBZ"),
                                   ("B-NP", "I-NP", "B-VP"), ("B-PER", "I-PER", "O"))
    assert sources.split_file("conll2003", "test", folders).origin == (
        "Hugging Face Hub dataset eriktks/conll2003@refs/convert/parquet "
        "(conll2003/{split}/*.parquet)")


def test_sst_ptb_config_beside_the_others_is_not_mixed_in(mirror, folders, monkeypatch):
    ptb = Features({"ptb_tree": Value("string")})
    default = Features({"sentence": Value("string"), "label": Value("float32"),
                        "tokens": Value("string"), "tree": Value("string")})
    trees = {"train": "(3 (2 It) (4 (4 works) (2 .)))", "validation": "(1 (2 It) (1 fails))",
             "test": "(2 (2 It) (2 is))"}
    for split, tree in trees.items():
        _write_parquet(_repo(mirror, "sst") / "ptb" / split / "0000.parquet", ptb,
                       {"ptb_tree": [tree]})
        _write_parquet(_repo(mirror, "sst") / "default" / split / "0000.parquet", default,
                       {"sentence": ["x"], "label": [0.5], "tokens": ["x"], "tree": ["0"]})
    _pin_rows(monkeypatch, "sst", 1)
    (example,) = read_sst("dev", folders, classes=5)
    assert example.tokens == ("It", "fails") and example.label == 1


def test_trec_fine_labels_with_their_coarse_prefix(mirror, folders, monkeypatch):
    features = Features({
        "text": Value("string"),
        "coarse_label": ClassLabel(names=["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]),
        "fine_label": ClassLabel(names=["ABBR:abb", "ABBR:exp", "HUM:ind", "LOC:city"]),
    })
    questions = {"train": ["Who founded Reuters ?", "What city is Reuters based in ?"],
                 "test": ["Who wrote Hamlet ?"]}
    labels = {"train": ([3, 4], [2, 3]), "test": ([3], [2])}
    for split, texts in questions.items():
        coarse, fine = labels[split]
        _write_parquet(_repo(mirror, "trec") / "default" / split / "0000.parquet", features,
                       {"text": texts, "coarse_label": coarse, "fine_label": fine})
    _pin_rows(monkeypatch, "trec", 2)
    source = sources.SOURCES["trec"]
    splits = dict(source.hub.splits, test=dataclasses.replace(source.hub.splits["test"], rows=1))
    monkeypatch.setitem(sources.SOURCES, "trec", dataclasses.replace(
        source, hub=dataclasses.replace(source.hub, splits=splits)))
    (question,) = read_trec("test", folders, granularity="fine")
    assert question.label == "HUM:ind" and question.tokens[0] == "Who"
    text = sources.split_file("trec", "train", folders).path.read_text(encoding="latin-1")
    assert text == "HUM:ind Who founded Reuters ?\nLOC:city What city is Reuters based in ?\n"


def test_squad_from_the_pinned_commit(mirror, folders, monkeypatch):
    features = Features({
        "id": Value("string"), "title": Value("string"), "context": Value("string"),
        "question": Value("string"),
        "answers": Sequence({"text": Value("string"), "answer_start": Value("int32")}),
    })
    context = "The Broncos beat the Panthers in Santa Clara."
    for split in ("train", "validation"):
        _write_parquet(_repo(mirror, "squad") / "plain_text" / f"{split}-00000-of-00001.parquet",
                       features, {
                           "id": [f"{split}-1"], "title": ["Super_Bowl"], "context": [context],
                           "question": ["Where?"],
                           "answers": [{"text": ["Santa Clara"],
                                        "answer_start": [context.index("Santa Clara")]}],
                       })
    _pin_rows(monkeypatch, "squad", 1)
    split = read_squad("dev", folders)
    assert [(q.id, [a.text for a in q.answers]) for q in split.questions] == [
        ("validation-1", ["Santa Clara"])]


def test_a_changed_hub_copy_is_refused(mirror, folders):
    features = Features({"ptb_tree": Value("string")})
    for split in SPLITS:
        _write_parquet(_repo(mirror, "sst") / "ptb" / split / "0000.parquet", features,
                       {"ptb_tree": ["(2 (2 a))"]})
    with pytest.raises(DataSourceError, match="split 'train' has 1 rows, expected 8544"):
        read_sst("train", folders, classes=5)


def test_no_data_and_no_hub_says_so_and_how_to_point_at_local_files(tmp_path, folders, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    monkeypatch.delenv("ELMO_BENCH_HUB_MIRROR", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # what a machine without network gets, at once
    with pytest.raises(DataSourceError) as raised:
        sources.split_file("trec", "test", folders)
    message = str(raised.value)
    assert f"local file {tmp_path / 'no-data' / 'trec/TREC_10.label'}" in message
    assert ("Hugging Face Hub dataset CogComp/trec@refs/convert/parquet (default/{split}/*.parquet): "
            "HF_HUB_OFFLINE is set, so the Hub is not asked") in message
    assert "Fix: set ELMO_BENCH_DATA to a folder holding trec/TREC_10.label" in message
    assert "docs/data.md" in message and "ELMO_BENCH_HUB_MIRROR" in message
    assert "pip install" not in message  # the package is there: installing it is no fix


def test_an_unreachable_hub_is_known_in_seconds(tmp_path, folders, monkeypatch):
    with socket.socket() as probe:  # a port with no listener: connection refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("ELMO_BENCH_HUB_MIRROR", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.perf_counter()
    with pytest.raises(DataSourceError) as raised:
        sources.split_file("sst", "dev", folders)
    assert time.perf_counter() - started < 30
    assert (f"the Hugging Face Hub could not be reached at http://127.0.0.1:{port} (cannot "
            "connect: no network, a proxy or firewall, or the Hub is down)") in str(raised.value)
