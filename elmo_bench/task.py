"""Tasks: a subclass plus metadata, registered by name, discovered from task folders.

A task module in the repository's top-level ``tasks/`` folder (or any folder given with
``--tasks-dir``) defines one subclass of a task family (``TaggingTask``, ``ClassificationTask``,
``SpanQaTask`` in :mod:`elmo_bench.families`) with its metadata and a ``read`` method. Defining
the class registers it (``__init_subclass__``); :func:`discover_tasks` imports every module of the
folders by file path, so adding a task never means editing the package.

A task instance holds its settings: ``options`` (task switches such as TREC's label granularity),
``head`` (the head's hyper-parameters, the same for every embedder) and ``training`` (optimiser,
epochs, early stopping). Each starts from the class's defaults; overrides must name known keys.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

from torch import nn

from elmo_bench.data.sources import SplitFile, split_file
from elmo_bench.errors import ElmoBenchError
from elmo_bench.settings import did_you_mean, merge_settings
from elmo_bench.training import TrainingConfig

ROLES = ("train", "dev", "test")
"""What each split is for: ``train`` fits the head, ``dev`` selects the epoch, ``test`` is
reported."""

REPOSITORY_TASKS_DIR = Path(__file__).resolve().parents[1] / "tasks"


class TaskRegistryError(ElmoBenchError, ValueError):
    """A task name that is unknown or defined twice, or a task module that cannot be loaded."""


class EmptySplitError(ElmoBenchError, ValueError):
    """A split has no examples: an error, never a score of 0."""


class Task(ABC):
    """One benchmark task: its data, head, metric and protocol.

    Class attributes (the task's metadata, set by each task module):
        name: the registry name (``"conll2003_ner"``).
        description: one line for listings.
        dataset: the dataset in :data:`elmo_bench.data.sources.SOURCES` it reads.
        splits: role (``train``/``dev``/``test``) -> the dataset split whose file holds it. Two
            roles may share a file (TREC's dev is carved from train); ``read`` does the carving.
        main_score: the key of :meth:`score`'s result that selects the epoch and is reported.
        metric: how the scores are computed (implementation and mode), recorded in results.
        options: task switches and their defaults.
        head: the head's hyper-parameters (every key the family's head takes).
        training: changes to :class:`~elmo_bench.training.TrainingConfig`'s defaults.

    Families implement the head and metric methods; task modules implement :meth:`read`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    dataset: ClassVar[str]
    splits: ClassVar[Mapping[str, str]] = {"train": "train", "dev": "dev", "test": "test"}
    main_score: ClassVar[str]
    metric: ClassVar[str]
    options: ClassVar[Mapping[str, Any]] = {}
    head: ClassVar[Mapping[str, Any]] = {}
    training: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            TASKS.register(cls)

    def __init__(
        self,
        options: Mapping[str, Any] | None = None,
        head: Mapping[str, Any] | None = None,
        training: Mapping[str, Any] | None = None,
    ) -> None:
        # Instance attributes shadow the class defaults with the merged settings.
        self.options = merge_settings(type(self).options, options, f"task {self.name!r} options")
        self.head = merge_settings(type(self).head, head, f"task {self.name!r} head")
        training_defaults = merge_settings(
            asdict(TrainingConfig()), type(self).training, f"task {self.name!r} training defaults"
        )
        self.training = merge_settings(training_defaults, training, f"task {self.name!r} training")
        self.training_config = TrainingConfig(**self.training)

    # ------------------------------------------------------------------------------ data

    @abstractmethod
    def read(self, role: str) -> list[Any]:
        """The examples of ``role`` (``"train"``, ``"dev"`` or ``"test"``)."""

    @abstractmethod
    def token_sequences(self, example: Any) -> tuple[tuple[str, ...], ...]:
        """The token sequences of ``example`` that are embedded (a sentence; a question and its
        context)."""

    def data_files(self, role: str) -> list[SplitFile]:
        """The files ``role`` is read from (their sha256 goes into results)."""
        return [split_file(self.dataset, self.splits[role])]

    def read_checked(self, role: str) -> list[Any]:
        """:meth:`read`, with an empty split or an empty token sequence reported as an error."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        examples = self.read(role)
        if not examples:
            raise EmptySplitError(
                f"task {self.name!r}: the {role} split ({self.dataset} {self.splits[role]!r}) has "
                f"no examples with options {self.options}"
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
    def build_head(self, embedding_input: nn.Module, train_examples: Sequence[Any]) -> nn.Module:
        """The task head on top of ``embedding_input`` (an
        :class:`~elmo_bench.heads.scalar_mix_input.EmbeddingInput`); label sets come from
        ``train_examples``. Hyper-parameters come from ``self.head``."""

    @abstractmethod
    def batch_loss(self, head: nn.Module, split: Any, indices: Sequence[int]) -> Any:
        """Mean training loss (a scalar tensor) of examples ``indices`` of ``split`` (an
        :class:`~elmo_bench.embedded_split.EmbeddedSplit`)."""

    @abstractmethod
    def predict(self, head: nn.Module, split: Any, indices: Sequence[int]) -> list[Any]:
        """Predictions for examples ``indices`` of ``split``, in that order."""

    @abstractmethod
    def score(self, examples: Sequence[Any], predictions: Sequence[Any]) -> dict[str, Any]:
        """Scores of ``predictions`` (one per example); holds :attr:`main_score`."""

    def protocol(self) -> dict[str, Any]:
        """What a result records about how this task was run and scored."""
        return {
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

    def load_folder(self, folder: str | Path) -> list[str]:
        """Import every ``*.py`` module of ``folder`` (not recursive, ``_*.py`` skipped) by file
        path; returns the names of the modules imported now. A file is imported once per process.

        Raises:
            TaskRegistryError: the folder does not exist, or a module fails to import (the error
                names the file).
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise TaskRegistryError(f"task folder {folder} does not exist")
        imported = []
        for path in sorted(folder.glob("*.py")):
            resolved = path.resolve()
            if path.name.startswith("_") or resolved in self._loaded_files:
                continue
            self._loaded_files.add(resolved)
            # A module name unique to the file, so that two folders may both hold "ner.py".
            digest = hashlib.sha256(str(resolved).encode("utf-8")).hexdigest()[:12]
            module_name = f"elmo_bench_tasks.{path.stem}_{digest}"
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
