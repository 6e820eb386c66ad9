"""A task's data: built-in datasets or the task's own ``files``; declarations checked when the
class is defined; every split located and read before anything trains (``elmo-bench task``,
``elmo-bench list --tasks-dir``, the grid), failing in one line that names the task, the role, the
path and the fix. Built-in tasks' cell fingerprints are pinned: they must not move.
"""

from __future__ import annotations


import pytest

from elmo_bench import task as task_module
from elmo_bench.cli import main
from elmo_bench.families.classification import ClassificationTask, LabelledText
from elmo_bench.paths import DataFolders
from elmo_bench.runner.benchmark import flat_sources, run_benchmark
from elmo_bench.runner.grid import plan_cells, select
from elmo_bench.runner.presets import resolve_preset
from elmo_bench.runner.request import RunRequest
from elmo_bench.runner.smoke_data import write_smoke_data
from elmo_bench.task import TASK_FILES_ORIGIN, TaskDataError, TaskRegistry, TaskRegistryError

PLUGIN = '''
from elmo_bench.data.formats import read_delimited
from elmo_bench.families.classification import ClassificationTask, LabelledText


class Polarity(ClassificationTask):
    name = "polarity"
    description = "label<TAB>text files of the user's own"
    files = {FILES}
    head = {{"hidden_size": 4, "lstm_layers": 1, "dropout": 0.0, "pooling": ["max"]}}

    def read(self, role):
        return [LabelledText(e.tokens, e.label) for e in read_delimited(self.data_path(role))]
'''
DEFAULT_FILES = {"train": "data/train.tsv", "dev": "data/dev.tsv", "test": "data/test.tsv"}
LINES = "pos\tgood film\nneg\tbad film\npos\tgreat film\nneg\tawful film\n"

# Cell fingerprints of the built-in tasks on the smoke data with a fixed GloVe file, computed
# with the code before task files existed (main 41fb7cc): the running benchmark's cells must stay
# valid.
PINNED_FINGERPRINTS = {
    "conll2003_ner": "f67a6f2d68cdeaf52e0285f3076ae63b65ae1dfe4f5e87ef23a4a07388dcc1ee",
    "sst2": "b0976af7723f59c97440d4e2cbab1aa5b9a99ad96fd988fb4d7ffc04b2ea5378",
    "sst5": "877d71ce352696a55ccd8f7b0bf29e4293e004810d9142bca49e85711c08ad8e",
    "trec6": "1fa5bf5f8ec9bf1cfc8f686958e964a189cf75af23e48fbf4919175a7c7a8adb",
    "squad11": "f424ef6a4532897cc720a5f4b70a41d05518cbd7855f6869c44dfcebeaaa63c6",
}


@pytest.fixture()
def registry(monkeypatch):
    fresh = TaskRegistry()
    monkeypatch.setattr(task_module, "TASKS", fresh)
    return fresh


@pytest.fixture()
def plugin(tmp_path, registry, monkeypatch):
    """A folder with the ``polarity`` module and its data in ``data/`` beside it; returns a
    function that writes the module with other ``files`` and loads the folder."""
    monkeypatch.setenv("ELMO_BENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "my_tasks"
    (folder / "data").mkdir(parents=True)
    for role in ("train", "dev", "test"):
        (folder / "data" / f"{role}.tsv").write_text(LINES, encoding="utf-8")

    def load(files=DEFAULT_FILES):
        (folder / "polarity.py").write_text(PLUGIN.format(FILES=repr(files)), encoding="utf-8")
        registry.load_folder(folder)
        return folder

    return load


def test_built_in_cell_fingerprints_are_unchanged(tmp_path, registry):
    data = write_smoke_data(tmp_path / "data")
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the 0.1 0.2\nof 0.3 0.4\n", encoding="utf-8")
    settings = resolve_preset("smoke", {"embedder.glove.vectors": str(vectors)})
    tasks = task_module.discover_tasks()
    select(settings, tasks, embedders=["glove"])
    specs = plan_cells(settings, tasks, flat_sources(settings, "cpu"), tmp_path / "cells", [],
                       data, tmp_path / "cache", "cpu")
    assert {spec.task: spec.fingerprint for spec in specs} == PINNED_FINGERPRINTS


def test_own_files_resolve_beside_the_module_and_are_recorded(plugin):
    folder = plugin()
    task = task_module.TASKS.get("polarity")()
    assert task.data_path("dev") == folder / "data" / "dev.tsv"
    (split,) = task.data_files("test")
    provenance = split.provenance()
    assert provenance["origin"] == TASK_FILES_ORIGIN and provenance["dataset"] == "polarity"
    assert provenance["path"] == str(folder / "data" / "test.tsv") and len(provenance["sha256"]) == 64
    assert task.protocol()["files"] == DEFAULT_FILES and task.protocol()["dataset"] is None
    assert task.check_data() == {"train": 4, "dev": 4, "test": 4}


def test_own_files_take_absolute_home_and_environment_paths(plugin, tmp_path, monkeypatch):
    data = tmp_path / "my_tasks" / "data"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("POLARITY_DATA", str(data))
    plugin({"train": str(data / "train.tsv"), "dev": "~/my_tasks/data/dev.tsv",
            "test": "${POLARITY_DATA}/test.tsv"})
    task = task_module.TASKS.get("polarity")()
    assert [task.data_path(role) for role in ("train", "dev", "test")] == [
        data / "train.tsv", data / "dev.tsv", data / "test.tsv"
    ]
    monkeypatch.delenv("POLARITY_DATA")
    with pytest.raises(TaskDataError, match=r"test split: .*uses the environment variable "
                       r"POLARITY_DATA, which is not set; set it"):
        task.check_data()


@pytest.mark.parametrize(
    ("cls_body", "message"),
    [
        ("dataset = 'wnut17'", r"unknown dataset 'wnut17': the built-in datasets are conll2003, "
         r"sst, trec, squad; for a dataset of your own set files = \{'train': PATH"),
        ("", r"names no data: set files = .* or dataset = one of conll2003"),
        ("dataset = 'trec'\n    files = {'train': 'a', 'dev': 'b', 'test': 'c'}",
         "sets both dataset and files"),
        ("files = {'train': 'a', 'test': 'c'}", r"files must map each of train, dev, test to a "
         r"path, got \['test', 'train'\]"),
    ],
)
def test_a_bad_data_declaration_fails_when_the_module_is_loaded(
    registry, tmp_path, cls_body, message
):
    (tmp_path / "bad.py").write_text(
        "from elmo_bench.families.classification import ClassificationTask\n\n"
        f"class Bad(ClassificationTask):\n    name = 'bad'\n    {cls_body}\n\n"
        "    def read(self, role):\n        return []\n"
    )
    with pytest.raises(TaskRegistryError, match=r"task 'bad' \(Bad in .*bad\.py\): " + message):
        registry.load_folder(tmp_path)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


def test_task_command_fails_on_a_missing_file_before_loading_anything(plugin, capsys):
    folder = plugin({**DEFAULT_FILES, "dev": "data/dev.tvs"})
    # --embedder elmo without weights would fail too: the data is checked first.
    assert main(["task", "polarity", "--embedder", "elmo", "--tasks-dir", str(folder)]) == 2
    assert one_line_error(capsys) == (
        f"elmo-bench task: error: task 'polarity', dev split: {folder}/data/dev.tvs does not exist "
        f"(files['dev'] = 'data/dev.tvs' in {folder}/polarity.py; relative paths start at "
        f"{folder}); put the file there or correct files['dev']\n"
    )


def test_a_folder_or_an_unreadable_file_is_named(plugin, monkeypatch):
    folder = plugin({**DEFAULT_FILES, "train": "data"})
    task = task_module.TASKS.get("polarity")()
    with pytest.raises(TaskDataError, match=rf"train split: {folder}/data is a folder, not a file"):
        task.check_data()

    def refuse(path, mode="r", *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(task_module, "open", refuse, raising=False)
    with pytest.raises(TaskDataError, match=r"dev split: .*dev\.tsv cannot be read "
                       r"\(PermissionError: Permission denied; files\['dev'\].*make it readable"):
        task.data_path("dev")


def test_a_malformed_file_names_task_role_file_and_line(plugin, capsys):
    folder = plugin()
    (folder / "data" / "test.tsv").write_text("pos\tgood\nno label here\n", encoding="utf-8")
    assert main(["list", "--tasks-dir", str(folder)]) == 2
    assert one_line_error(capsys) == (
        f"elmo-bench list: error: task 'polarity', test split: {folder}/data/test.tsv:2: expected "
        "2 fields label/text separated by '\\t', got 1: 'no label here'; fix the data file or the "
        f"reading in {folder}/polarity.py\n"
    )


def test_an_empty_split_fails_the_check(plugin):
    folder = plugin()
    (folder / "data" / "dev.tsv").write_text("\n", encoding="utf-8")
    with pytest.raises(TaskDataError, match=r"task 'polarity', dev split: .*dev\.tsv: no examples"):
        task_module.TASKS.get("polarity")().check_data()


def test_the_grid_checks_the_data_before_pretraining(plugin, tmp_path):
    folder = plugin({**DEFAULT_FILES, "test": "data/missing.tsv"})
    settings = resolve_preset("smoke", {"stages_dir": str(tmp_path / "stages")})
    with pytest.raises(TaskDataError, match=r"task 'polarity', test split: .*missing\.tsv does not"):
        run_benchmark(settings, RunRequest(tasks=["polarity"], embedders=["glove", "elmo"], tasks_dirs=[folder],
                                           results_dir=tmp_path / "results", progress=False),
                      log=lambda line: None)
    assert sorted(path.name for path in (tmp_path / "stages").iterdir()) == ["smoke-data"]


def test_a_built_in_dataset_split_that_does_not_exist_fails_the_check(
    registry, tmp_path, monkeypatch
):
    class WrongSplit(ClassificationTask):
        name = "wrong_split"
        dataset = "trec"  # TREC has no dev file: this task forgot to carve dev from train

        def read(self, role):
            return [LabelledText(("Who", "?"), "HUM")]

    (tmp_path / "trec").mkdir()
    for name in ("train_5500.label", "TREC_10.label"):
        (tmp_path / "trec" / name).write_text("HUM:ind Who ?\n", encoding="latin-1")
    with pytest.raises(TaskDataError, match=r"task 'wrong_split', dev split: unknown split 'dev' "
                       r"for dataset 'trec'; expected one of train, test; fix the data file"):
        WrongSplit(data_folders=DataFolders(tmp_path, tmp_path / "cache")).check_data()
    assert WrongSplit().protocol()["dataset"] == "trec" and "files" not in WrongSplit().protocol()
