"""Pretraining stages of a benchmark run: GloVe and the biLM, resumable, skipped when done.

Each stage writes into its own folder, keyed by its settings and the content of its inputs, and
records a finished stage there in ``stage.json`` (:mod:`elmo_bench.runner.stage_folders`: the
folder's key, the record and its output checksums). The record's cost holds the wall seconds of the
invocation that finished the stage, plus the training seconds the trainer counted over every
invocation. A folder with a valid ``stage.json`` is skipped; one without it is resumed: the
biLM from its ``checkpoint.pt`` (:func:`elmo_bench.pretrain.bilm.run.pretrain` with ``resume``),
GloVe from its per-epoch checkpoint (:func:`elmo_bench.pretrain.glove.train_glove` resumes by
itself). Their outputs become the cells' embedder sources: ``glove.vectors`` and
``elmo.options`` + ``elmo.weights``, plus ``elmo.pretrain_run`` (the biLM's folder, whose checkpoint
``elmo-lm-finetuned`` fine-tunes).

With ``pretrain.concurrent``, stages that must run (not those found done) run at the same time,
each in a spawned process of its own with its own torch threads (e.g. GloVe on one core and the
biLM on the other; :mod:`elmo_bench.runner.stage_processes` runs the processes): their log
records and ``log`` lines come back to this process, and a failed stage raises here, with its own
error, once the other has ended. The stages share only caches
that are written whole under a lock or atomically (the tokenized corpus, its vocabularies and
encodings), so running them side by side changes no output.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.multiprocessing.spawn import ProcessException

from elmo_bench.compared import sources_of
from elmo_bench.pretrain.bilm.checkpoint import CHECKPOINT_NAME
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.run import pretrain
from elmo_bench.pretrain.bilm_presets import BiLmPreset, get_preset
from elmo_bench.pretrain.glove import GloveConfig, train_glove
from elmo_bench.pretrain.vocab import VocabConfig
from elmo_bench.runner.stage_folders import (
    StageError,
    locate_stage,
    read_stage_record,
    stage_corpus_config,
    stage_folder,
    write_stage_record,
)
from elmo_bench.runner.stage_processes import run_data_parallel, run_side_by_side, with_threads


@dataclass(frozen=True)
class StageOutcome:
    """A finished stage.

    Attributes:
        name: ``"glove"`` or ``"bilm"``.
        folder: its output folder.
        sources: the embedder source settings it provides (``{"glove.vectors": path}``).
        record: the content of its ``stage.json``.
        skipped: whether it had finished before this run.
    """

    name: str
    folder: Path
    sources: dict[str, str]
    record: dict[str, Any]
    skipped: bool


def _glove_config(config: Mapping[str, Any], corpus: Path, folder: Path) -> GloveConfig:
    """The stage settings as a :class:`GloveConfig` (which checks the values)."""
    return GloveConfig(
        corpus=stage_corpus_config(config, corpus),
        output_dir=str(folder),
        vocab=VocabConfig(max_words=config["max_words"], min_count=config["min_count"]),
        dim=config["dim"],
        window=config["window"],
        epochs=config["epochs"],
        seed=config["seed"],
        threads=config["threads"],
    )


def _bilm_preset(config: Mapping[str, Any]) -> BiLmPreset:
    """The biLM preset named by the stage with its overrides applied (which checks them)."""
    return get_preset(config["preset"], config["overrides"])


def check_stages(settings: Mapping[str, Any]) -> None:
    """Check both stages' settings without running them, so that a typo in the biLM's settings
    fails before hours of GloVe training.

    Raises:
        PresetError (of the biLM presets), VocabularyError, CorpusError, ValueError: a bad value.
    """
    _glove_config(settings["pretrain"]["glove"], Path("corpus"), Path("output"))
    bilm = settings["pretrain"]["bilm"]
    _bilm_preset(bilm)
    processes = bilm["processes"]
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise StageError(f"pretrain.bilm.processes must be a whole number of at least 1, got {processes!r}")
    if processes > 1 and settings["pretrain"]["concurrent"]:
        raise StageError(
            f"pretrain.bilm.processes={processes} (data-parallel ranks) cannot run beside GloVe: set "
            "pretrain.concurrent=false, or pretrain.bilm.processes=1"
        )


def stage_sources(name: str, outputs: Mapping[str, Any], folder: Path) -> dict[str, str]:
    """The embedder sources a finished stage provides, from its output files: GloVe's
    ``glove.vectors``; the biLM's ``elmo.options``, ``elmo.weights`` and ``elmo.pretrain_run``
    (its folder, whose checkpoint ``elmo-lm-finetuned`` fine-tunes)."""
    if name == "glove":
        return {"glove.vectors": str(outputs["vectors"])}
    return {"elmo.options": str(outputs["options"]), "elmo.weights": str(outputs["weights"]),
            "elmo.pretrain_run": str(folder)}


def run_glove_stage(
    config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path, log: Callable[[str], None]
) -> StageOutcome:
    """Train GloVe vectors on the stage's corpus (or find them done)."""
    inputs, digests, folder = locate_stage("glove", config, data_dir, stages_dir)
    corpus = inputs["corpus"]
    record = read_stage_record(folder)
    if record is not None:
        return StageOutcome("glove", folder, stage_sources("glove", record["outputs"], folder), record, True)
    resumed = (folder / "checkpoint.pt").is_file()
    log(f"glove: {'resuming' if resumed else 'training'} {config['dim']}d vectors on {corpus} -> {folder}")
    started = time.perf_counter()
    glove_config = _glove_config(config, corpus, folder)
    vectors = train_glove(glove_config)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    record = write_stage_record(
        "glove", folder, config, inputs, digests, {"vectors": vectors}, started, resumed,
        {"timings_seconds": summary["timings_s"], "train_tokens": summary["train_tokens"]},
    )
    return StageOutcome("glove", folder, stage_sources("glove", record["outputs"], folder), record, False)


def run_bilm_stage(
    config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path, log: Callable[[str], None]
) -> StageOutcome:
    """Pretrain the biLM (resuming its checkpoint when there is one, or find it done)."""
    inputs, digests, folder = locate_stage("bilm", config, data_dir, stages_dir)
    corpus, wikitext = inputs["corpus"], inputs["wikitext"]
    record = read_stage_record(folder)
    if record is not None:
        return StageOutcome("bilm", folder, stage_sources("bilm", record["outputs"], folder), record, True)
    preset = _bilm_preset(config)
    resumed = (folder / CHECKPOINT_NAME).is_file()
    processes = config["processes"]
    log(
        f"bilm: {'resuming' if resumed else 'pretraining'} the {config['preset']!r} biLM "
        f"({preset.train.max_steps} steps, {processes} data-parallel process(es) of "
        f"{config['threads']} thread(s)) on {corpus} -> {folder}"
    )
    started = time.perf_counter()
    data = None if resumed else DataSettings(
        corpus=str(corpus),
        held_out_fraction=config["held_out_fraction"],
        workers=config["workers"],
        wikitext_dir=None if wikitext is None else str(wikitext),
    )
    work = functools.partial(pretrain, None if resumed else preset, data, folder, resume=resumed)
    if processes == 1:
        with_threads(config["threads"], work)
    else:
        try:
            run_data_parallel(processes, config["threads"], work)
        except ProcessException as error:
            raise StageError(
                f"bilm: a data-parallel rank failed; a rerun resumes from {folder / CHECKPOINT_NAME}: {error}"
            ) from error
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    outputs = {name: folder / f"{name}.{suffix}" for name, suffix in
               (("options", "json"), ("weights", "hdf5"), ("vocab", "txt"))}
    record = write_stage_record(
        "bilm", folder, config, inputs, digests, outputs, started, resumed,
        {
            "train_seconds_all_invocations": metrics["train_seconds"],
            "steps": metrics["step"],
            "tokens_seen": metrics["tokens_seen"],
            "processes": processes,
            "final_perplexities": metrics.get("final"),
        },
    )
    return StageOutcome("bilm", folder, stage_sources("bilm", outputs, folder), record, False)


STAGES: Mapping[str, tuple[str, Callable[..., StageOutcome]]] = {
    "glove": ("glove", run_glove_stage),
    "bilm": ("elmo", run_bilm_stage),
}
"""Stage name -> (the embedder source it provides, the function that runs it)."""


def source_is_given(source: str, settings: Mapping[str, Any]) -> bool:
    """Whether ``embedder.<source>`` already names its vectors/weights (then no stage runs).

    Raises:
        StageError: ELMo given by only one of ``options`` and ``weights``.
    """
    if source == "glove":
        return settings["vectors"] is not None
    if (settings["options"] is None) != (settings["weights"] is None):
        raise StageError(
            "embedder.elmo.options and embedder.elmo.weights go together: give both (an "
            "options.json and weights.hdf5 pair), or neither to pretrain the biLM"
        )
    return any(settings[key] is not None for key in ("model", "options", "pretrain_run"))


def _log_outcome(outcome: StageOutcome, log: Callable[[str], None]) -> None:
    """The stage's closing line: done (or done before), where, and how long it took."""
    cost = outcome.record["cost"]["wall_seconds_last_invocation"]
    log(
        f"{outcome.name}: {'already done' if outcome.skipped else 'done'} in {outcome.folder} "
        f"(last invocation {cost:.1f} s)"
    )


def _stage_result(name: str, future: concurrent.futures.Future) -> StageOutcome:
    """The outcome of stage ``name``'s process; the stage's own exception when it failed.

    Raises:
        StageError: a stage process died (killed, out of memory), which ends them all.
    """
    try:
        return future.result()
    except concurrent.futures.process.BrokenProcessPool as error:
        raise StageError(
            f"the {name} stage did not finish: a stage process ended abruptly (killed, out of "
            "memory?), which stops them all; a rerun resumes the unfinished stages"
        ) from error


def _run_side_by_side(
    configs: Mapping[str, Mapping[str, Any]],
    data_dir: Path | None,
    stages_dir: Path,
    log: Callable[[str], None],
) -> dict[str, StageOutcome]:
    """Run the stages of ``configs`` (name -> settings) at once, each in a spawned process; every
    one has ended, finished or failed, before this returns or raises (the first failed stage's
    exception, in the order of ``configs``)."""
    calls = {name: functools.partial(STAGES[name][1], config, data_dir, stages_dir)
             for name, config in configs.items()}
    futures = run_side_by_side(calls, log, lambda outcome: _log_outcome(outcome, log))
    return {name: _stage_result(name, future) for name, future in futures.items()}


def needed_stages(settings: Mapping[str, Any], embedders: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """``{stage: its settings}`` for every stage whose source one of ``embedders`` reads and the
    settings do not give; in the order glove, bilm."""
    used_sources = sources_of(embedders)
    return {
        stage: settings["pretrain"][stage]
        for stage, (source, _) in STAGES.items()
        if source in used_sources and not source_is_given(source, settings["embedder"][source])
    }


@dataclass(frozen=True)
class StagePlan:
    """A stage as planned before any runs.

    Attributes:
        name: ``glove`` or ``bilm``.
        config: its settings.
        folder: where it writes.
        done: whether it finished before this run.
        sources: the embedder sources it provides when done (else empty).
        description: what it trains, in a few words.
    """

    name: str
    config: Mapping[str, Any]
    folder: Path
    done: bool
    sources: dict[str, str]
    description: str


def _describe(name: str, config: Mapping[str, Any]) -> str:
    if name == "glove":
        return f"{config['dim']}d GloVe, {config['epochs']} epochs, {config['threads']} thread(s)"
    steps = _bilm_preset(config).train.max_steps
    return (f"the {config['preset']!r} biLM, {steps} steps on {config['processes']} process(es) of "
            f"{config['threads']} thread(s)")


def plan_stages(
    settings: Mapping[str, Any], embedders: Sequence[str], data_dir: Path | None, stages_dir: Path
) -> list[StagePlan]:
    """The :func:`needed_stages` with their folders and whether they are done (reading, not
    running, anything)."""
    plans = []
    for name, config in needed_stages(settings, embedders).items():
        folder = stage_folder(name, config, data_dir, stages_dir)
        record = read_stage_record(folder)
        sources = {} if record is None else stage_sources(name, record["outputs"], folder)
        plans.append(StagePlan(name, config, folder, record is not None, sources, _describe(name, config)))
    return plans


def run_stages(
    settings: Mapping[str, Any],
    embedders: Sequence[str],
    data_dir: Path | None,
    stages_dir: Path,
    log: Callable[[str], None],
) -> list[StageOutcome]:
    """Run (or find done) every stage whose source a selected embedder reads and the settings do
    not give; in the order glove, bilm. With ``pretrain.concurrent``, the stages to run (when more
    than one) run side by side, in processes of their own (see the module docstring)."""
    configs = needed_stages(settings, embedders)
    unfinished = {
        stage: config for stage, config in configs.items()
        if read_stage_record(stage_folder(stage, config, data_dir, stages_dir)) is None
    }
    outcomes = {}
    if settings["pretrain"]["concurrent"] and len(unfinished) > 1:
        outcomes = _run_side_by_side(unfinished, data_dir, stages_dir, log)
    for stage, config in configs.items():
        if stage not in outcomes:
            outcomes[stage] = STAGES[stage][1](config, data_dir, stages_dir, log)
            _log_outcome(outcomes[stage], log)
    return [outcomes[stage] for stage in configs]


def bilm_stage_preset(config: Mapping[str, Any]) -> BiLmPreset:
    """The biLM preset of the biLM stage's settings ``config``, its overrides applied (its
    schedule says which snapshots the stage exports)."""
    return _bilm_preset(config)
