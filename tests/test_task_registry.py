"""Task registry: automatic registration, duplicate names, did-you-mean, discovery by file path,
settings overrides."""

from __future__ import annotations

import pytest

from elmo_bench import task as task_module
from elmo_bench.families.classification import ClassificationTask, LabelledText
from elmo_bench.settings import SettingsError, parse_assignments, parse_sections
from elmo_bench.task import TaskDataError, TaskRegistry, TaskRegistryError, discover_tasks

TASK_MODULE = """
from elmo_bench.families.classification import ClassificationTask, LabelledText


class {cls}(ClassificationTask):
    name = "{name}"
    dataset = "trec"
    head = {{"hidden_size": 4, "lstm_layers": 1, "dropout": 0.0, "pooling": ["max"]}}

    def read(self, role):
        return [LabelledText(("a",), "x")]
"""


@pytest.fixture()
def registry(monkeypatch):
    """A fresh process-wide registry for the test (task classes register into TASKS)."""
    fresh = TaskRegistry()
    monkeypatch.setattr(task_module, "TASKS", fresh)
    return fresh


def test_subclass_with_a_name_registers_itself(registry):
    class Toy(ClassificationTask):
        name = "toy_task"
        dataset = "trec"

        def read(self, role):
            return []

    assert registry.get("toy_task") is Toy
    assert "toy_task" in registry.names()


def test_family_base_classes_do_not_register(registry):
    class Intermediate(ClassificationTask):  # no name: a base for other tasks
        dataset = "trec"

    assert registry.names() == []


def test_duplicate_name_is_rejected_naming_both_classes(registry):
    class First(ClassificationTask):
        name = "dup_task"
        dataset = "trec"

        def read(self, role):
            return []

    with pytest.raises(TaskRegistryError, match=r"'dup_task' is defined twice.*First.*Second"):

        class Second(ClassificationTask):
            name = "dup_task"
            dataset = "trec"

            def read(self, role):
                return []

    assert registry.get("dup_task") is First


def test_task_missing_methods_is_rejected(registry):
    with pytest.raises(TaskRegistryError, match="does not implement read"):

        class NoRead(ClassificationTask):
            name = "no_read"
            dataset = "trec"


def test_unknown_name_suggests_the_closest(registry):
    class Ner(ClassificationTask):
        name = "conll2003_ner"
        dataset = "trec"

        def read(self, role):
            return []

    with pytest.raises(
        TaskRegistryError, match=r"unknown task 'conll2003_nre' \(did you mean 'conll2003_ner'\?\)"
    ):
        registry.get("conll2003_nre")
    with pytest.raises(TaskRegistryError, match="known tasks: conll2003_ner"):
        registry.get("qqq")


def test_discovery_imports_a_folder_by_file_path(registry, tmp_path):
    (tmp_path / "my_task.py").write_text(TASK_MODULE.format(cls="MyTask", name="my_task"))
    (tmp_path / "_helper.py").write_text("raise RuntimeError('helpers are not imported')")
    (tmp_path / "notes.txt").write_text("not python")
    assert len(registry.load_folder(tmp_path)) == 1
    assert registry.get("my_task").__name__ == "MyTask"
    assert registry.load_folder(tmp_path) == []  # a file is imported once


def test_discovery_rejects_the_same_name_in_two_folders(registry, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "task.py").write_text(TASK_MODULE.format(cls="Same", name="same_name"))
    registry.load_folder(tmp_path / "a")
    with pytest.raises(
        TaskRegistryError, match=r"'same_name' is defined twice.*a/task\.py.*b/task\.py"
    ):
        registry.load_folder(tmp_path / "b")


def test_a_broken_task_module_is_named(registry, tmp_path):
    (tmp_path / "broken.py").write_text("import not_a_module_anywhere\n")
    with pytest.raises(
        TaskRegistryError,
        match=r"broken\.py: importing the task module failed: ModuleNotFoundError",
    ):
        registry.load_folder(tmp_path)
    with pytest.raises(TaskRegistryError, match="does not exist"):
        registry.load_folder(tmp_path / "missing")


def test_repository_tasks_are_discovered(registry):
    names = discover_tasks().names()
    assert {"conll2003_ner", "sst2", "sst5", "trec6", "squad11"} <= set(names)


def test_settings_overrides_must_name_known_keys(registry, tmp_path):
    (tmp_path / "my_task.py").write_text(TASK_MODULE.format(cls="MyTask", name="my_task"))
    registry.load_folder(tmp_path)
    task_class = registry.get("my_task")
    task = task_class(head={"hidden_size": 8}, training={"max_epochs": 2})
    assert task.head["hidden_size"] == 8 and task.training_config.max_epochs == 2
    assert type(task).head["hidden_size"] == 4  # class defaults untouched
    with pytest.raises(
        SettingsError, match=r"no setting 'hiden_size' \(did you mean 'hidden_size'\?\)"
    ):
        task_class(head={"hiden_size": 8})
    with pytest.raises(SettingsError, match="training.max_epochs must be an integer >= 1, got 0"):
        task_class(training={"max_epochs": 0})


def test_command_line_assignments_are_read_as_json_and_grouped_by_section():
    items = ["training.max_epochs=3", 'head.pooling=["max"]', "embedder.glove.vectors=g.txt", "options.x=null"]
    assert parse_sections(items, "--config", "training.max_epochs=3") == {
        "training": {"max_epochs": 3},
        "head": {"pooling": ["max"]},
        "embedder": {"glove.vectors": "g.txt"},
        "options": {"x": None},
    }
    assert parse_assignments(["a.b=1", "a.b=two", "c=[1, 2]"], "--set", "a.b=1") == {"a.b": "two", "c": [1, 2]}
    with pytest.raises(SettingsError, match=r"'max_epochs' is not SECTION.KEY \(e.g. --config training"):
        parse_sections(["max_epochs=3"], "--config", "training.max_epochs=3")
    with pytest.raises(SettingsError, match=r"--config 'max_epochs' is not KEY=VALUE"):
        parse_sections(["max_epochs"], "--config", "training.max_epochs=3")


def test_empty_split_is_an_error(registry):
    class Empty(ClassificationTask):
        name = "empty_task"
        dataset = "trec"

        def read(self, role):
            return [] if role == "dev" else [LabelledText(("a",), "x")]

    with pytest.raises(task_module.EmptySplitError, match="the dev split .* has no examples"):
        Empty().read_checked("dev")


FAMILY_MODULE = """
from elmo_bench.families.classification import ClassificationTask, LabelledText


class {cls}(ClassificationTask):  # a family of the folder: no name, so not a task
    files = {{"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}}
    label = "{label}"

    def read(self, role):
        return [LabelledText(("a",), self.label)]
"""


def test_modules_of_a_task_folder_share_code_with_relative_imports(registry, tmp_path):
    """A family in a ``_*.py`` helper, a task module importing it, and a task module importing a
    sibling task module (which must not register its task a second time); a second folder with
    helpers of the same names gets its own."""
    for folder, label in (("one", "x"), ("two", "y")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "_family.py").write_text(FAMILY_MODULE.format(cls="Family", label=label))
        (tmp_path / folder / "a_task.py").write_text(
            f"from ._family import Family\n\nclass A(Family):\n    name = 'a_{folder}'\n"
        )
        (tmp_path / folder / "b_task.py").write_text(
            f"from .a_task import A\n\nclass B(A):\n    name = 'b_{folder}'\n"
        )
    registry.load_folder(tmp_path / "one")
    registry.load_folder(tmp_path / "two")
    assert registry.names() == ["a_one", "a_two", "b_one", "b_two"]
    assert registry.get("b_one").__mro__[1] is registry.get("a_one")
    assert registry.get("a_two")().read("train")[0].label == "y"
    assert registry.names_in(tmp_path / "one") == ["a_one", "b_one"]
    with pytest.raises(TaskDataError, match=f"{tmp_path}/two/dev.tsv does not exist"):
        registry.get("b_two")().data_path("dev")  # files set by the helper: beside the helper


def test_a_missing_helper_is_named_with_the_module_importing_it(registry, tmp_path):
    (tmp_path / "task.py").write_text("from ._absent import Family\n")
    with pytest.raises(TaskRegistryError, match=r"task\.py: importing the task module failed: "
                       r"ModuleNotFoundError: No module named 'elmo_bench_tasks\.folder_\w+\._absent'"):
        registry.load_folder(tmp_path)
