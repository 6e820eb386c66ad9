"""Tasks: a subclass plus metadata, registered by name, discovered from task folders.

A task module in the repository's top-level ``tasks/`` folder (or any folder given with
``--tasks-dir``) defines one subclass of a task family (``TaggingTask``, ``ClassificationTask``,
``SpanQaTask`` in :mod:`elmo_bench.families`, or a family of its own) with its metadata and a
``read`` method. Defining the class registers it (``__init_subclass__``); :func:`discover_tasks`
imports every module of the folders by file path, so adding a task never means editing the
package. Each folder is imported as a package of its own, so its modules may share code with
relative imports (``from ._pair import PairClassificationTask``; ``_*.py`` files are imported
only that way).

A task reads either a built-in dataset (``dataset``: a key of
:data:`elmo_bench.data.sources.SOURCES`, found in the task's
:class:`~elmo_bench.paths.DataFolders`: the local data folder or the Hub) or its own files
(``files``: role -> path, relative to the folder of the module that sets it).
:meth:`Task.check_data` locates and reads every split, so that a misconfigured task fails in
seconds, before anything trains.

A task instance holds its settings: ``options`` (task switches such as TREC's label granularity),
``head`` (the head's hyper-parameters, the same for every embedder) and ``training`` (optimiser,
epochs, early stopping). Each starts from the class's defaults; overrides must name known keys.
It also holds where a built-in dataset is read from (``data_folders``), which its ``read`` passes
to the dataset's reader.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import inspect
import os
import re
import sys
import types
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from elmo_bench.data.errors import DataSourceError
from elmo_bench.data.sources import SOURCES, SplitFile, split_file
from elmo_bench.errors import ElmoBenchError
from elmo_bench.heads.scalar_mix_input import EmbeddingInput
from elmo_bench.heads.task_head import TaskHead
from elmo_bench.paths import DataFolders
from elmo_bench.settings import (
    Check,
    SettingsError,
    check_fields,
    check_values,
    did_you_mean,
    integer,
    merge_settings,
    number,
)

ROLES = ("train", "dev", "test")
"""What each split is for: ``train`` fits the head, ``dev`` selects the epoch, ``test`` is
reported."""

REPOSITORY_TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"

TASK_FILES_ORIGIN = "task files"
"""The ``origin`` of a split read from a file the task names itself (:attr:`Task.files`)."""

_PACKAGE_ROOT = "elmo_bench_tasks"
_ENVIRONMENT_VARIABLE = re.compile(r"\$(\w+|\{\w+\})")


class TaskRegistryError(ElmoBenchError, ValueError):
    """A task name that is unknown or defined twice, or a task module that cannot be loaded."""


class EmptySplitError(ElmoBenchError, ValueError):
    """A split has no examples: an error, never a score of 0."""


class TaskDataError(DataSourceError):
    """A task's split cannot be located or read; the message names the task, the role, the path
    tried and how to fix it."""


@dataclass(frozen=True)
class TrainingConfig:
    """How a head is trained: the schema of :attr:`Task.training` (a task's ``training`` settings
    are changes to these defaults; :mod:`elmo_bench.training` runs the loop they describe).

    Attributes:
        max_epochs: epochs at most.
        patience: stop after this many epochs without a better dev score.
        batch_size: training examples per step.
        eval_batch_size: examples per prediction batch.
        learning_rate: Adam's step size.
        embedder_learning_rate: Adam's step size for the parameters of an unfrozen embedder (the
            head's ``unfrozen_embedder`` submodule; smaller, so that the task does not wash out
            what pretraining learned).
        grad_clip: clip the gradient norm to this (None: no clipping).
        bucket_pool: batches per pool sorted by length (1: plain shuffling).
        device: where the head trains (``"cpu"``, ``"cuda"``, ...).
    """

    max_epochs: int = integer(20, minimum=1)
    patience: int = integer(3, minimum=1)
    batch_size: int = integer(32, minimum=1)
    eval_batch_size: int = integer(128, minimum=1)
    learning_rate: float = number(0.001, above=0)
    embedder_learning_rate: float = number(0.0001, above=0)
    grad_clip: float | None = number(5.0, above=0, optional=True)
    bucket_pool: int = integer(50, minimum=1)
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_fields(self, "training", SettingsError)


class Task(ABC):
    """One benchmark task: its data, head, metric and protocol.

    Class attributes (the task's metadata, set by each task module):
        name: the registry name (``"conll2003_ner"``).
        description: one line for listings.
        dataset: the built-in dataset (a key of :data:`elmo_bench.data.sources.SOURCES`) it
            reads; None for a task that reads its own ``files``.
        files: role -> the task's own data file: an absolute path, ``~/...``, a path with
            ``$VARIABLE`` parts, or a path relative to the folder of the module that sets ``files``.
            Set either ``files`` or ``dataset``. ``read`` gets the paths from :meth:`data_path`.
        splits: role (``train``/``dev``/``test``) -> the dataset split whose file holds it. Two
            roles may share a file (TREC's dev is carved from train); ``read`` does the carving.
        main_score: the key of :meth:`score`'s result that selects the epoch and is reported.
        metric: how the scores are computed (implementation and mode), recorded in results.
        options: task switches and their defaults.
        head: the head's hyper-parameters (every key the family's head takes).
        head_checks: what each of ``head``'s values may hold; checked when the task is made, so
            that a grid rejects a bad value before its pretraining stages.
        training: changes to :class:`TrainingConfig`'s defaults.
        subset_strata: the attribute of a training example that a training subset keeps in
            proportion (:func:`elmo_bench.data.subsets.nested_subset`): ``"label"`` for
            classification; None draws subsets by content hash alone.

    Families implement the head and metric methods; task modules implement :meth:`read`.

    Args:
        options, head, training: overrides of the class's settings.
        data_folders: where a built-in ``dataset`` is read from (see :attr:`data_folders`);
            None for a task that only checks its settings or reads its own ``files``.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    dataset: ClassVar[str | None] = None
    files: ClassVar[Mapping[str, str]] = {}
    splits: ClassVar[Mapping[str, str]] = {"train": "train", "dev": "dev", "test": "test"}
    main_score: ClassVar[str]
    metric: ClassVar[str]
    options: ClassVar[Mapping[str, Any]] = {}
    head: ClassVar[Mapping[str, Any]] = {}
    head_checks: ClassVar[Mapping[str, Check]] = {}
    training: ClassVar[Mapping[str, Any]] = {}
    subset_strata: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            TASKS.register(cls)

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
        data_folders: DataFolders | None = None,
    ) -> None:
        # Instance attributes shadow the class defaults with the merged settings.
        self.options = merge_settings(type(self).options, options, f"task {self.name!r} options")
        self.head = merge_settings(type(self).head, head, f"task {self.name!r} head")
        check_values(self.head, type(self).head_checks, f"task {self.name!r} head", SettingsError)
        training_defaults = merge_settings(
            asdict(TrainingConfig()), type(self).training, f"task {self.name!r} training defaults"
        )
        self.training = merge_settings(training_defaults, training, f"task {self.name!r} training")
        self.training_config = TrainingConfig(**self.training)
        self._data_folders = data_folders

    # ------------------------------------------------------------------------------ data

    @property
    def data_folders(self) -> DataFolders:
        """Where the task's built-in ``dataset`` is read from; ``read`` passes it to the
        dataset's reader.

        Raises:
            TaskDataError: the task was made without data folders.
        """
        if self._data_folders is None:
            raise TaskDataError(
                f"task {self.name!r} reads dataset {self.dataset!r} but was made without "
                "data_folders (where its files are)"
            )
        return self._data_folders

    @abstractmethod
    def read(self, role: str) -> list[Any]:
        """The examples of ``role`` (``"train"``, ``"dev"`` or ``"test"``)."""

    @abstractmethod
    def token_sequences(self, example: Any) -> tuple[tuple[str, ...], ...]:
        """The token sequences of ``example`` that are embedded (a sentence; a question and its
        context)."""

    def data_path(self, role: str) -> Path:
        """The file of ``role`` named by :attr:`files`, resolved (see :attr:`files`).

        Raises:
            TaskDataError: the task has no ``files``, a ``$VARIABLE`` is not set, or the file does
                not exist or cannot be read.
        """
        declared = self.files.get(role)
        if declared is None:
            raise TaskDataError(
                f"task {self.name!r}: no file for the {role} split; files names "
                f"{', '.join(self.files) or 'none'} (a task reading dataset {self.dataset!r} gets "
                "its files from data_files)"
            )
        module = _defining_module(type(self), "files")
        where = f"files[{role!r}] = {declared!r} in {module}"
        unset = [
            name.strip("{}")
            for name in _ENVIRONMENT_VARIABLE.findall(str(declared))
            if name.strip("{}") not in os.environ
        ]
        if unset:
            raise TaskDataError(
                f"task {self.name!r}, {role} split: {where} uses the environment variable "
                f"{unset[0]}, which is not set; set it or correct files[{role!r}]"
            )
        path = Path(os.path.expandvars(str(declared))).expanduser()
        if not path.is_absolute():
            path = module.parent / path
        if not path.is_file():
            problem = "is a folder, not a file" if path.is_dir() else "does not exist"
            raise TaskDataError(
                f"task {self.name!r}, {role} split: {path} {problem} ({where}; relative paths "
                f"start at {module.parent}); put the file there or correct files[{role!r}]"
            )
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except OSError as error:
            raise TaskDataError(
                f"task {self.name!r}, {role} split: {path} cannot be read "
                f"({type(error).__name__}: {error.strerror or error}; {where}); make it readable "
                "or correct the path"
            ) from error
        return path

    def data_files(self, role: str) -> list[SplitFile]:
        """The files ``role`` is read from (their sha256 goes into results).

        Raises:
            TaskDataError: a file of the task's own ``files`` is missing or unreadable.
            ValueError, DataSourceError: a built-in dataset's split is unknown or unavailable.
        """
        if self.files:
            return [SplitFile(self.name, role, self.data_path(role), TASK_FILES_ORIGIN)]
        return [split_file(self.dataset, self.splits[role], self.data_folders)]

    def check_data(self) -> dict[str, int]:
        """Locate and read every split, before anything is trained; returns examples per role.

        Raises:
            TaskDataError: a split cannot be located or read, or has no examples; the message is
                one line that names the task and the role and says what to fix.
        """
        counts = {}
        for role in ROLES:
            try:
                self.data_files(role)
                counts[role] = len(self.read_checked(role))
            except TaskDataError:
                raise
            except (ValueError, OSError) as error:
                message = " ".join(str(error).split())  # a Hub error lists its attempts on lines
                raise TaskDataError(
                    f"task {self.name!r}, {role} split: {message}; fix the data file or the "
                    f"reading in {inspect.getsourcefile(type(self))}"
                ) from error
        return counts

    def read_checked(self, role: str) -> list[Any]:
        """:meth:`read`, with an empty split or an empty token sequence reported as an error."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        examples = self.read(role)
        if not examples:
            source = (
                f"file {self.files[role]!r}" if self.files
                else f"{self.dataset} {self.splits[role]!r}"
            )
            raise EmptySplitError(
                f"task {self.name!r}: the {role} split ({source}) has no examples with options "
                f"{self.options}"
            )
        for index, example in enumerate(examples):
            for sequence in self.token_sequences(example):
                if not sequence:
                    raise ValueError(
                        f"task {self.name!r}: {role} example {index} has an empty token sequence"
                    )
        return examples

    # ------------------------------------------------------------------------------ head and metric

    @abstractmethod
    def build_head(self, embedding_input: EmbeddingInput, train_examples: Sequence[Any]) -> TaskHead:
        """The task head (an ``nn.Module`` and a :class:`~elmo_bench.heads.task_head.TaskHead`)
        on top of ``embedding_input``; label sets come from ``train_examples``, the whole
        training split (also when a ``train_fraction`` trains on part of it). Hyper-parameters
        come from ``self.head``."""

    @abstractmethod
    def batch_loss(self, head: TaskHead, split: Any, indices: Sequence[int]) -> Any:
        """Mean training loss (a scalar tensor) of examples ``indices`` of ``split`` (an
        :class:`~elmo_bench.embedded_split.EmbeddedSplit`)."""

    @abstractmethod
    def predict(self, head: TaskHead, split: Any, indices: Sequence[int]) -> list[Any]:
        """Predictions for examples ``indices`` of ``split``, in that order."""

    @abstractmethod
    def score(self, examples: Sequence[Any], predictions: Sequence[Any]) -> dict[str, Any]:
        """Scores of ``predictions`` (one per example); holds :attr:`main_score`."""

    def protocol(self) -> dict[str, Any]:
        """What a result records about how this task was run and scored (a task with its own
        ``files`` records them as declared, too)."""
        protocol = {
            "task": self.name,
            "dataset": self.dataset,
            "splits": dict(self.splits),
            "main_score": self.main_score,
            "metric": self.metric,
            "model_selection": f"epoch with the best dev {self.main_score}",
            "reported_split": "test",
            "options": dict(self.options),
            "task_module": inspect.getsourcefile(type(self)),
        }
        if self.files:
            protocol["files"] = dict(self.files)
        return protocol


class TaskRegistry:
    """Task classes by name. Registration rejects a second class under a taken name."""

    def __init__(self) -> None:
        self._tasks: dict[str, type[Task]] = {}
        self._loaded_files: set[Path] = set()

    def register(self, task_class: type[Task]) -> None:
        name = task_class.__dict__["name"]
        if not isinstance(name, str) or not name:
            raise TaskRegistryError(f"{task_class.__qualname__}: name must be a non-empty string")
        # ABCMeta sets __abstractmethods__ only after __init_subclass__ has run: look ourselves.
        missing = ", ".join(
            sorted(
                attribute
                for attribute in dir(task_class)
                if getattr(getattr(task_class, attribute, None), "__isabstractmethod__", False)
            )
        )
        if missing:
            raise TaskRegistryError(
                f"task {name!r} ({_where(task_class)}) does not implement {missing}"
            )
        problem = _data_declaration_problem(task_class)
        if problem:
            raise TaskRegistryError(f"task {name!r} ({_where(task_class)}): {problem}")
        existing = self._tasks.get(name)
        if existing is not None and existing is not task_class:
            raise TaskRegistryError(
                f"task name {name!r} is defined twice: by {_where(existing)} and by "
                f"{_where(task_class)}; rename one of them"
            )
        self._tasks[name] = task_class

    def unregister(self, name: str) -> None:
        del self._tasks[name]

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def get(self, name: str) -> type[Task]:
        """The task class called ``name``.

        Raises:
            TaskRegistryError: unknown name, with the closest known name and the known names.
        """
        if name not in self._tasks:
            raise TaskRegistryError(
                f"unknown task {name!r}{did_you_mean(name, self._tasks)}; known tasks: "
                f"{', '.join(self.names()) or 'none (no task modules found)'}"
            )
        return self._tasks[name]

    def names_in(self, folder: str | Path) -> list[str]:
        """The names of the tasks defined by modules of ``folder``."""
        folder = Path(folder).resolve()
        return [
            name for name in self.names()
            if Path(inspect.getsourcefile(self._tasks[name]) or "").resolve().parent == folder
        ]

    def load_folder(self, folder: str | Path) -> list[str]:
        """Import every ``*.py`` module of ``folder`` (not recursive, ``_*.py`` skipped) by file
        path; returns the names of the modules imported now. A file is imported once per process.

        The folder is imported as a package of its own (named after a digest of its path, so that
        two folders may both hold ``ner.py``): its modules may import each other, and its
        ``_*.py`` helpers (a task family, a head), with relative imports. A module already imported
        that way by a sibling is not run a second time.

        Raises:
            TaskRegistryError: the folder does not exist, or a module fails to import (the error
                names the file).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise TaskRegistryError(f"task folder {folder} does not exist")
        package = _folder_package(folder.resolve())
        before = set(sys.modules)
        imported = []
        for path in sorted(folder.glob("*.py")):
            resolved = path.resolve()
            if path.name.startswith("_") or resolved in self._loaded_files:
                continue
            self._loaded_files.add(resolved)
            module_name = f"{package}.{path.stem}"
            if module_name in sys.modules and module_name not in before:
                imported.append(module_name)  # imported by a sibling module just now
                continue
            spec = importlib.util.spec_from_file_location(module_name, resolved)
            if spec is None or spec.loader is None:
                raise TaskRegistryError(f"{path}: cannot be imported as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            try:
                spec.loader.exec_module(module)
            except TaskRegistryError:
                del sys.modules[module_name]
                raise
            except Exception as error:
                del sys.modules[module_name]
                raise TaskRegistryError(
                    f"{path}: importing the task module failed: {type(error).__name__}: {error}"
                ) from error
            imported.append(module_name)
        return imported


def _folder_package(folder: Path) -> str:
    """The name of the package that stands for the task folder ``folder`` (created in
    ``sys.modules`` on first use), so that the folder's modules can use relative imports."""
    if _PACKAGE_ROOT not in sys.modules:
        root = types.ModuleType(_PACKAGE_ROOT, "Task folders loaded by elmo_bench.task.")
        root.__path__ = []
        root.__spec__ = importlib.machinery.ModuleSpec(_PACKAGE_ROOT, None, is_package=True)
        sys.modules[_PACKAGE_ROOT] = root
    digest = hashlib.sha256(str(folder).encode("utf-8")).hexdigest()[:12]
    name = f"{_PACKAGE_ROOT}.folder_{digest}"
    if name not in sys.modules:
        package = types.ModuleType(name, f"The task folder {folder}.")
        package.__path__ = [str(folder)]
        package.__file__ = str(folder / "__init__.py")
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
        package.__spec__ = spec
        sys.modules[name] = package
    return name


def _defining_module(task_class: type, attribute: str) -> Path:
    """The source file of the class in ``task_class``'s MRO that sets ``attribute``."""
    owner = next(cls for cls in task_class.__mro__ if attribute in cls.__dict__)
    return Path(inspect.getsourcefile(owner) or ".").resolve()


def _data_declaration_problem(task_class: type[Task]) -> str | None:
    """What is wrong with how ``task_class`` names its data (``dataset`` or ``files``), or None."""
    dataset, files = task_class.dataset, task_class.files
    builtin = ", ".join(SOURCES)
    own_files = (
        "files = {'train': PATH, 'dev': PATH, 'test': PATH} (your own files; relative paths start "
        "at the task module's folder)"
    )
    if dataset is None and not files:
        return f"names no data: set {own_files}, or dataset = one of {builtin}"
    if dataset is not None and files:
        return "sets both dataset and files; a task reads one or the other"
    if dataset is not None and dataset not in SOURCES:
        return (
            f"unknown dataset {dataset!r}{did_you_mean(dataset, SOURCES)}: the built-in datasets "
            f"are {builtin}; for a dataset of your own set {own_files} instead of dataset"
        )
    if files:
        if not isinstance(files, Mapping) or set(files) != set(ROLES):
            keys = sorted(files) if isinstance(files, Mapping) else type(files).__name__
            return f"files must map each of {', '.join(ROLES)} to a path, got {keys}"
        for role, path in files.items():
            if not isinstance(path, (str, os.PathLike)) or not str(path):
                return f"files[{role!r}] must be a non-empty path, got {path!r}"
    return None


def _where(task_class: type) -> str:
    try:
        source = inspect.getsourcefile(task_class)
    except TypeError:
        source = None
    return f"{task_class.__qualname__} in {source or task_class.__module__}"


TASKS = TaskRegistry()
"""The process-wide registry every :class:`Task` subclass with a ``name`` joins."""


def discover_tasks(extra_dirs: Sequence[str | Path] = ()) -> TaskRegistry:
    """Load the repository's ``tasks/`` folder (when present) and ``extra_dirs``; returns
    :data:`TASKS`."""
    folders = [REPOSITORY_TASKS_DIR] if REPOSITORY_TASKS_DIR.is_dir() else []
    for folder in [*folders, *extra_dirs]:
        TASKS.load_folder(folder)
    return TASKS
