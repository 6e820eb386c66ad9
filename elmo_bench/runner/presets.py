"""Benchmark presets as data: which data, pretraining stages, tasks, embedders, seeds and settings.

A preset is a plain nested dict laid over :data:`DEFAULTS`; every key it sets must exist there, except
under the open sections (per-task settings, biLM preset overrides), whose keys are checked where
they are used (the task's own settings, the biLM preset's fields). The command line changes any
value with ``--set key.path=value`` (the value read as JSON when it parses, e.g. ``3``, ``null``,
``[1, 2]``, as a string otherwise); a misspelt key is answered with the closest known one.

Settings (see :data:`DEFAULTS` for every key and its default):

``data_dir``
    the data folder; None means ``ELMO_BENCH_DATA``. With ``smoke_data: true`` the tiny smoke data
    set is written there first (default ``<stages_dir>/smoke-data``).
``stages_dir``
    where pretraining stages write their outputs (default ``$ELMO_BENCH_CACHE/stages``), a folder
    ``<stage>-<key>`` each, keyed by the stage's settings and the content of its input files (see
    :mod:`elmo_bench.runner.stage_folders`).
``report_dir``
    where the tables and plots of :func:`elmo_bench.report.build_report` go once every cell is
    done, relative to the results folder (default ``<preset>``; ``standard``: the results folder
    itself, so ``make bench`` leaves ``results/README.md``).
``report_caveat``
    what a run of the preset cannot conclude, printed under the title of its report (``quick``:
    most of the claims).
``pretrain.glove`` / ``pretrain.bilm``
    the GloVe and biLM pretraining stages. A stage runs only when a selected embedder reads its
    source and ``embedder.<source>`` does not already name vectors/weights: set
    ``embedder.glove.vectors`` (a file or a published name such as ``glove.840B.300d``) or
    ``embedder.elmo.model`` (a published name such as ``original``) to use those instead.
``pretrain.concurrent``
    run the stages that must run at the same time, each in a process of its own with its own
    ``threads`` (``standard``: GloVe and the biLM on one core each of a 2-core machine, instead
    of GloVe's one thread leaving the other core idle); false runs them one after the other.
``embedder``
    the source settings of :mod:`elmo_bench.embedders.registry` (``elmo.weights``,
    ``glove.vectors``, ...); ``elmo.device`` None follows ``device``.
``task_embedders``
    ``{task: [embedder, ...]}``: the embedders a task runs when it should run fewer than
    ``embedders`` (``standard``: SQuAD, the most expensive task, runs only the paper's pair); the
    list keeps the order of ``embedders`` and drops those not selected.
``task_defaults`` / ``task_settings``
    overrides of the tasks' ``options``, ``head`` and ``training``: ``task_defaults`` for every
    selected task that has the key, ``task_settings.<task>`` for one task (applied after).
``train_fraction``
    train every head on this nested, seed-independent part of its task's training split (dev
    and test stay whole; :mod:`elmo_bench.data.subsets`), e.g. ``0.05``; None (or 1): all of it.
    Only a fraction below 1 enters the cells' fingerprints.
``device``
    where heads train and ELMo runs: ``cpu``, ``cuda``, or ``auto`` (cuda when available).
``threads``
    torch threads of each cell (in each worker of the ``pool`` executor).
``executor``
    ``name`` (local, pool, submitit), ``workers`` and the submitit parameters.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from elmo_bench.embedders.registry import DEFAULT_SOURCES
from elmo_bench.settings import PresetError, did_you_mean, read_value

ALL_TASKS = ("conll2003_ner", "sst2", "sst5", "trec6", "squad11")
TASK_SECTIONS = ("options", "head", "training")
BILM_PRESET_SECTIONS = ("model", "train", "vocab")

DEFAULTS: dict[str, Any] = {
    "description": "",
    "data_dir": None,
    "smoke_data": False,
    "stages_dir": None,
    "report_dir": None,
    "report_caveat": "",  # what the preset's run cannot conclude, printed atop its report
    "device": "cpu",
    "threads": 1,
    "tasks": list(ALL_TASKS),
    "embedders": ["glove", "elmo"],
    "seeds": [1, 2, 3],
    "task_embedders": {},  # task -> the embedders it runs when not all of them (e.g. SQuAD)
    "train_fraction": None,  # None or 1: whole training splits; (0, 1): a nested subset
    "pretrain": {
        "concurrent": False,  # True: the stages that must run run side by side, a process each
        "glove": {
            "corpus": "corpus/wikipedia",  # relative paths are inside the data folder
            "dim": 128,
            "epochs": 15,
            "window": 10,
            "max_words": 50_000,
            "min_count": 5,
            "held_out_fraction": 0.01,
            "seed": 0,
            "workers": 2,
            "threads": 1,
        },
        "bilm": {
            "preset": "cpu-small",
            "overrides": {},  # {"train": {"max_steps": 1000}, "vocab": {...}, "model": {...}}
            "corpus": "corpus/wikipedia",
            "wikitext": "corpus/eval/wikitext-2",  # None: no WikiText-2 perplexity
            "held_out_fraction": 0.01,
            "workers": 2,
            "threads": 2,  # per process
            "processes": 1,  # data-parallel ranks (DDP, gloo on CPU); part of the stage's key
        },
    },
    "embedder": {
        # every registered source, so a new one needs no line here; ELMo's device follows the
        # run's unless set
        **{source: dict(defaults) for source, defaults in DEFAULT_SOURCES.items()},
        "elmo": {**DEFAULT_SOURCES["elmo"], "device": None},
    },
    "task_defaults": {section: {} for section in TASK_SECTIONS},
    "task_settings": {},
    "executor": {
        "name": "local",
        "workers": 2,
        "submitit": {
            "folder": None,  # default <stages_dir>/../submitit/<preset>
            "timeout_min": 24 * 60,
            "slurm_partition": None,
            "cpus_per_task": None,
            "gpus_per_node": None,
            "mem_gb": None,
            "poll_seconds": 1.0,
        },
    },
}
"""Every setting and its default; presets and ``--set`` change these."""

OPEN_SECTIONS: tuple[tuple[str, ...], ...] = (
    ("task_embedders",),
    ("task_defaults", "*"),
    ("task_settings",),
    ("task_settings", "*"),
    ("task_settings", "*", "*"),
    ("pretrain", "bilm", "overrides"),
    ("pretrain", "bilm", "overrides", "*"),
)
"""Paths (``*``: any key) of dicts that take keys not in :data:`DEFAULTS`; they are checked where
they are used."""

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "description": "tiny data written by code, the whole pipeline in well under 2 minutes",
        "smoke_data": True,
        "seeds": [1],
        "pretrain": {
            "glove": {
                "dim": 16, "epochs": 10, "window": 5, "max_words": 2000, "min_count": 1,
                "held_out_fraction": 0.1, "workers": 1,
            },
            "bilm": {
                # snapshots at 5 and 10 of 20 steps: the pretraining curve's points
                "preset": "tiny",
                "overrides": {"train": {"max_steps": 20, "eval_every": 0, "snapshot_steps": [5, 10]}},
                "held_out_fraction": 0.1, "workers": 1, "threads": 1,
            },
        },
        "task_defaults": {
            "head": {"hidden_size": 8},
            "training": {"max_epochs": 2, "patience": 1, "batch_size": 16},
        },
        "task_settings": {
            "squad11": {"options": {"selection_questions": 3}},
        },
    },
    "quick": {
        "description": "a first look in about an hour: a small biLM (600 steps) and 5-epoch "
        "GloVe, GloVe vs GloVe+ELMo on SST-2 and TREC-6, 3 seeds; cannot say whether ELMo helps "
        "NER, SST-5 or QA, and its biLM is too small for the answer to carry over to standard",
        "report_caveat": "a first look only. Its biLM trained 600 steps (4.9M tokens, about "
        "15% of the standard biLM's), so a gap or its absence here need not hold for "
        "standard; it runs two sentence-level classification tasks, so it says nothing about "
        "NER, SST-5 or question answering, nor about what context adds (no elmo or elmo-layer0 "
        "rows). Run `make bench` (the standard preset) for the comparison this project reports.",
        "embedders": ["glove", "elmo+glove"],
        "tasks": ["sst2", "trec6"],
        "seeds": [1, 2, 3],
        "threads": 1,
        "executor": {"name": "pool", "workers": 2},
        "pretrain": {
            "glove": {"dim": 128, "epochs": 5, "threads": 2},
            "bilm": {
                "preset": "cpu-small", "overrides": {"train": {"max_steps": 600}},
                "threads": 1, "processes": 2,
            },
        },
        "task_defaults": {"training": {"max_epochs": 100}},  # a safety bound: patience stops heads
    },
    "standard": {
        "description": "real data; cpu-small biLM (4,000 DDP steps, 31M tokens) and 128d GloVe "
        "pretrained on Wikipedia; glove, elmo+glove, elmo, elmo-layer0 on 5 tasks x 3 seeds "
        "(SQuAD: glove and elmo+glove), heads trained until early stopping",
        # Sized to finish `make bench` within 8 hours on 2 cores (README, "What `make bench` costs").
        "embedders": ["glove", "elmo+glove", "elmo", "elmo-layer0"],
        "seeds": [1, 2, 3],
        # SQuAD is the costliest task: it runs the paper's comparison only, with every seed.
        "task_embedders": {"squad11": ["glove", "elmo+glove"]},
        "report_dir": ".",
        # Two cells at a time, one thread each, so that both cores stay busy through the parts
        # of a cell that run on one thread anyway (reading, batching, decoding, scoring).
        "threads": 1,
        "executor": {"name": "pool", "workers": 2},
        "pretrain": {
            # One stage after the other, each on both cores: GloVe with 2 threads, the biLM as two
            # data-parallel processes of one thread (the fastest configuration measured:
            # results/benchmarks/pretrain_bilm_ddp.json).
            "concurrent": False,
            "glove": {"dim": 128, "epochs": 15, "threads": 2},
            "bilm": {
                "preset": "cpu-small",
                # 4,000 steps of 2 x 4,096 positions: one pass over the 32M-token corpus, 6.6
                # tokens per parameter; snapshots at 1/8, 1/4 and 1/2 for the learning curves.
                "overrides": {"train": {"max_steps": 4000, "snapshot_steps": [500, 1000, 2000]}},
                "threads": 1,
                "processes": 2,
            },
        },
        # A safety bound only: every head stops early on dev with its task's patience.
        "task_defaults": {"training": {"max_epochs": 100}},
        "task_settings": {
            "squad11": {
                "options": {"max_train_questions": 8000, "max_train_context_tokens": 300},
                "head": {"hidden_size": 50, "modelling_layers": 1},
            },
        },
    },
    "paper": {
        "description": "the full protocol: published ELMo (original) and GloVe (840B.300d), all "
        "four embedders, 5 seeds, no caps; for a GPU",
        "device": "auto",
        "threads": 4,
        "embedders": ["glove", "elmo", "elmo+glove", "elmo-layer0"],
        "seeds": [1, 2, 3, 4, 5],
        "embedder": {
            "elmo": {"model": "original"},
            "glove": {"vectors": "glove.840B.300d"},
        },
        # Used only with embedder.elmo.model=null / embedder.glove.vectors=null: the controlled
        # comparison with both pretrained on the Wikipedia corpus.
        "pretrain": {
            "glove": {"dim": 300, "epochs": 50, "max_words": 400_000},
            "bilm": {"preset": "elmo-small", "threads": 4},
        },
    },
}


def _is_open(path: tuple[str, ...]) -> bool:
    return any(
        len(pattern) == len(path)
        and all(part == "*" or part == key for part, key in zip(pattern, path))
        for pattern in OPEN_SECTIONS
    )


def set_value(settings: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``settings[a][b][c] = value`` for ``dotted`` ``"a.b.c"``, in place.

    Raises:
        PresetError: a key that is not a setting (with the closest one), or a path through a value
            that is not a section.
    """
    keys = tuple(dotted.split("."))
    if not all(keys):
        raise PresetError(
            f"setting {dotted!r} is not a dotted path such as 'seeds' or 'pretrain.glove.dim'"
        )
    node = settings
    for depth, key in enumerate(keys):
        parent = keys[:depth]
        last = depth == len(keys) - 1
        if key not in node:
            if not _is_open(parent):
                where = ".".join(parent) or "the preset"
                raise PresetError(
                    f"{where} has no setting {key!r}{did_you_mean(key, node)}; "
                    f"known: {', '.join(sorted(node)) or 'none'}"
                )
            if not last:
                node[key] = {}
        if last:
            current = node.get(key)
            if isinstance(current, dict) and not isinstance(value, dict):
                raise PresetError(f"{dotted} is a section ({', '.join(sorted(current)) or 'empty'}); "
                                  f"set one of its keys, e.g. {dotted}.KEY=VALUE")
            node[key] = value
        else:
            if not isinstance(node[key], dict):
                raise PresetError(f"{'.'.join(keys[:depth + 1])} is a value, not a section; cannot set {dotted}")
            node = node[key]


EXECUTORS = ("local", "pool", "submitit")
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?|mps")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_run_settings(settings: Mapping[str, Any]) -> None:
    """Check the run-wide values that only a cell or an executor would otherwise read, so that a
    bad one fails in the first second rather than after the pretraining stages.

    Raises:
        PresetError: ``threads`` or ``executor.workers`` not a whole number >= 1, ``device`` not
            one of auto, cpu, cuda, cuda:N, mps, or an unknown ``executor.name``.
    """
    for dotted, value in (("threads", settings["threads"]), ("executor.workers", settings["executor"]["workers"])):
        if not _positive_int(value):
            raise PresetError(f"{dotted} must be a whole number of at least 1, got {value!r}")
    device = settings["device"]
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise PresetError(f"device must be auto, cpu, cuda, cuda:N or mps, got {device!r}")
    name = settings["executor"]["name"]
    if name not in EXECUTORS:
        raise PresetError(f"executor.name must be one of {', '.join(EXECUTORS)}{did_you_mean(str(name), EXECUTORS)}, got {name!r}")


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """``{"a": {"b": 1}, "c": {}}`` -> ``("a.b", 1)``; an empty dict is kept as a value."""
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _flatten(value, dotted + ".")
        else:
            yield dotted, value


def resolve_preset(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The settings of preset ``name`` (:data:`DEFAULTS` + the preset + ``overrides``).

    Args:
        name: a key of :data:`PRESETS`.
        overrides: ``{"pretrain.glove.dim": 50, ...}`` (dotted paths, applied in order).

    Returns:
        A fresh nested dict with a ``preset`` key holding ``name``.

    Raises:
        PresetError: unknown preset (with the closest name) or unknown setting.
    """
    if name not in PRESETS:
        raise PresetError(
            f"unknown preset {name!r}{did_you_mean(name, PRESETS)}; known presets: {', '.join(PRESETS)}"
        )
    settings = copy.deepcopy(DEFAULTS)
    for dotted, value in _flatten(PRESETS[name]):
        try:
            set_value(settings, dotted, copy.deepcopy(value))
        except PresetError as error:
            raise PresetError(f"preset {name!r}: {error}") from error
    for dotted, value in (overrides or {}).items():
        set_value(settings, dotted, _of_the_setting_type(dotted, _current_value(settings, dotted), value))
    settings["preset"] = name
    return settings


_ABSENT = object()


def _current_value(settings: Mapping[str, Any], dotted: str) -> Any:
    """The value at ``dotted`` before an override, or ``_ABSENT`` (a new key of an open section)."""
    node: Any = settings
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return _ABSENT
        node = node[key]
    return node


def _of_the_setting_type(dotted: str, current: Any, value: Any) -> Any:
    """``value`` for the setting ``dotted`` whose value is now ``current``, checked against its
    type: a number stays a number, a flag a flag, text text. A list setting also takes one item
    or a comma-separated string (``tasks=trec6``, ``seeds=1,2``); ``null`` is always accepted.

    Raises:
        PresetError: ``"--set threads='two': threads must be an integer (now 2)"``.
    """
    if current is _ABSENT or current is None or value is None or isinstance(current, dict):
        return value
    if isinstance(current, list):
        if isinstance(value, str):
            return [read_value(item.strip()) for item in value.split(",") if item.strip()]
        return value if isinstance(value, list) else [value]
    expected = None
    if isinstance(current, bool):
        expected = None if isinstance(value, bool) else "true or false"
    elif isinstance(current, int):
        expected = None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    elif isinstance(current, float):
        expected = None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    elif isinstance(current, str):
        expected = None if isinstance(value, str) else "text"
    if expected is not None:
        raise PresetError(
            f"--set {dotted}={json.dumps(value)}: {dotted} must be {expected} (now {json.dumps(current)})"
        )
    return value


def preset_summary(name: str) -> str:
    """One line: the preset's description, tasks, embedders and seeds."""
    settings = resolve_preset(name)
    return (
        f"{settings['description']} [{len(settings['tasks'])} tasks x "
        f"{'/'.join(settings['embedders'])} x seeds {','.join(map(str, settings['seeds']))}]"
    )
