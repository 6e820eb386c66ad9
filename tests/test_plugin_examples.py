"""The example task modules of ``docs/adding_a_task.md``, used as a new user would: copied with
their own data files (written here) into a folder outside the package and outside
``ELMO_BENCH_DATA``, listed, run alone with ``elmo-bench task``, run in the smoke grid (pretraining
stages, GloVe and ELMo) and reported, paired tests included. ``snli`` is a task of a new kind:
its family and head live in the folder's ``_pair.py``.

Also: every Python block of the document is a verbatim excerpt of one of the example modules, and
every example module the document names exists.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path

import pytest

from elmo_bench import task as task_module
from elmo_bench.cli import main
from elmo_bench.task import TaskRegistry

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
GUIDE = REPO / "docs" / "adding_a_task.md"
TASKS = ("wnut17", "snli", "reviews")

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = "the a new phone film city team game was good bad great awful loved hated it".split()
ENTITIES = {"person": ["Ann", "Bob"], "location": ["Paris", "Oslo"], "product": ["iPhone", "Kindle"]}


def wnut_file(rng: random.Random, sentences: int, tab_breaks: bool) -> str:
    """``token<TAB>tag`` lines; sentences separated by a lone tab (the training file's quirk) or
    an empty line, with a lone U+FE0F token now and then (the dev and test files' quirk)."""
    blocks = []
    for index in range(sentences):
        rows = [f"{rng.choice(WORDS)}\tO" for _ in range(rng.randint(2, 5))]
        kind = rng.choice(sorted(ENTITIES))
        rows.insert(rng.randint(0, len(rows)), f"{rng.choice(ENTITIES[kind])}\tB-{kind}")
        if index % 7 == 3:
            rows.append("\ufe0f\tO")
        blocks.append("\n".join(rows) + "\n")
    return ("\t\n" if tab_breaks else "\n").join(blocks)


def snli_file(rng: random.Random, pairs: int) -> str:
    lines = []
    for index in range(pairs):
        first = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))).capitalize() + "."
        label = ["entailment", "neutral", "contradiction", "-"][index % 4]
        second = first if label == "entailment" else first.replace("good", "bad") + " No."
        lines.append(json.dumps({"sentence1": first, "sentence2": second, "gold_label": label,
                                 "pairID": str(index)}))
    return "\n".join(lines) + "\n"


def reviews_file(rng: random.Random, examples: int) -> str:
    lines = []
    for index in range(examples):
        label = ("positive", "negative")[index % 2]
        word = rng.choice(["good", "great", "loved"] if label == "positive" else ["bad", "awful"])
        lines.append(f"{label}\tThe {rng.choice(WORDS)} was {word}, I'd say.")
    return "\n".join(lines) + "\n"


def write_example_data(folder: Path) -> None:
    """Small files in each example's formats, where each example's ``files`` look for them."""
    rng = random.Random(0)
    contents = {
        "wnut17/wnut17train.conll": wnut_file(rng, 40, tab_breaks=True),
        "wnut17/emerging.dev.conll": wnut_file(rng, 14, tab_breaks=False),
        "wnut17/emerging.test.annotated": wnut_file(rng, 14, tab_breaks=False),
        "snli/snli_1.0_train.jsonl": snli_file(rng, 48),
        "snli/snli_1.0_dev.jsonl": snli_file(rng, 16),
        "snli/snli_1.0_test.jsonl": snli_file(rng, 16),
        "reviews/train.tsv": reviews_file(rng, 40),
        "reviews/dev.tsv": reviews_file(rng, 12),
        "reviews/test.tsv": reviews_file(rng, 12),
    }
    for relative, text in contents.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")


@pytest.fixture()
def fresh_registry(monkeypatch):
    """Tasks loaded by a test stay in the test."""
    monkeypatch.setattr(task_module, "TASKS", TaskRegistry())


@pytest.fixture()
def plugin_folder(tmp_path, monkeypatch, fresh_registry) -> Path:
    """The example modules and their data in a folder of their own; ``ELMO_BENCH_DATA`` points
    elsewhere (an empty folder), so nothing is found through it."""
    folder = tmp_path / "my_tasks"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    write_example_data(folder)
    (tmp_path / "empty-data").mkdir()
    monkeypatch.setenv("ELMO_BENCH_DATA", str(tmp_path / "empty-data"))
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    return folder


def glove_vectors(path: Path) -> Path:
    rng = random.Random(1)
    words = [*WORDS, "The", "I", "'d", "say", ",", ".", "No", *sum(ENTITIES.values(), [])]
    path.write_text(
        "".join(f"{w} {' '.join(f'{rng.uniform(-1, 1):.4f}' for _ in range(6))}\n" for w in words),
        encoding="utf-8",
    )
    return path


def test_every_python_block_of_the_guide_is_an_example_module_excerpt():
    guide = GUIDE.read_text(encoding="utf-8")
    sources = {path.name: path.read_text(encoding="utf-8") for path in EXAMPLES.glob("*.py")}
    blocks = re.findall(r"```python\n(.*?)```", guide, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        assert any(block in source for source in sources.values()), block[:200]
    for name in re.findall(r"docs/examples/(\w+\.py)", guide):
        assert name in sources, f"the guide names docs/examples/{name}, which does not exist"
    assert set(sources) == {"wnut17.py", "snli.py", "reviews.py", "_pair.py"}


def test_list_checks_the_examples_data(plugin_folder, capsys):
    assert main(["list", "--tasks-dir", str(plugin_folder)]) == 0
    listing = capsys.readouterr().out
    assert "wnut17 " in listing and "[train 40, dev 14, test 14 examples]" in listing
    assert "[train 36, dev 12, test 12 examples]" in listing  # snli: the '-' pairs are left out


@pytest.mark.parametrize("name", TASKS)
def test_an_example_runs_alone(plugin_folder, tmp_path, name, capsys):
    output = tmp_path / f"{name}.json"
    arguments = [
        "task", name, "--tasks-dir", str(plugin_folder), "--embedder", "glove",
        "--glove", str(glove_vectors(tmp_path / "glove.txt")), "--output", str(output), "--quiet",
        "--config", "training.max_epochs=1", "--config", "head.hidden_size=6",
    ]
    assert main(arguments) == 0, capsys.readouterr().err
    result = json.loads(output.read_text())
    assert result["task"] == name and 0.0 <= result["main_score"]["value"] <= 1.0
    data = result["protocol"]["data"]["test"][0]
    assert data["origin"] == "task files" and Path(data["path"]).parent.parent == plugin_folder
    assert len(data["sha256"]) == 64
    assert result["per_example"]["test"]["examples"] == result["protocol"]["examples"]["test"]


def test_the_examples_run_in_the_grid_and_the_report_pairs_them(plugin_folder, tmp_path, capsys):
    results = tmp_path / "results"
    assert main([
        "bench", "--preset", "smoke", "--tasks", ",".join(TASKS), "--embedders", "glove,elmo",
        "--tasks-dir", str(plugin_folder), "--results-dir", str(results), "--no-progress",
        "--set", "task_defaults.training.max_epochs=1",
    ]) == 0, capsys.readouterr()
    cells = results / "cells" / "smoke"
    for name in TASKS:
        for embedder in ("glove", "elmo"):
            result = json.loads((cells / f"{name}.{embedder}.seed1.json").read_text())
            assert len(result["training"]["epochs"]) == 1
    snli = json.loads((cells / "snli.elmo.seed1.json").read_text())
    assert snli["head"]["class"] == "PairClassifier"
    assert len(snli["head"]["learned_mixes"][0]["layer_weights"]) == 3  # ELMo's mix, learned
    assert snli["per_example"]["test"]["kind"] == "classification"
    assert main(["report", "--cells", str(cells), "--out", str(tmp_path / "report")]) == 0
    report = json.loads((tmp_path / "report" / "results.json").read_text())
    assert {row["task"] for row in report["comparisons"]} == set(TASKS)
    for row in report["comparisons"]:
        assert (row["a"], row["b"]) == ("elmo", "glove") and 0.0 <= row["p_two_sided"] <= 1.0
