"""Pretraining stages of a benchmark run: GloVe and the biLM, resumable, skipped when done.

Each stage writes into its own folder ``<stages_dir>/<stage>-<key>``, where ``key`` (see
:func:`stage_key`) is a digest of what determines the stage's output: its settings (sizes,
schedule; not thread or worker counts, nor the paths of its inputs) and the *content* of its inputs
(the corpus's fingerprint, :func:`elmo_bench.pretrain.corpus.corpus_fingerprint`: every shard's
sha256 and relative name, the tokenizer and the held-out fraction; for the biLM also the sha256 of
the WikiText-2 files it evaluates on). A changed setting or a corpus changed in place is therefore
a new folder, never a stale output, and the same corpus at another path (another machine, another
``ELMO_BENCH_DATA``) finds the stage done. File hashes are cached per (path, modification time,
size) within a process (:func:`elmo_bench.data.sources.file_sha256`). When a stage finishes
it writes ``stage.json`` beside its output: its settings, its output files, and its cost (wall
seconds of the invocation that finished it, plus the training seconds the trainer counted over
every invocation), and the sha256 of each output, checked before a later run reuses it (see
:func:`read_stage_record`). A folder with a valid ``stage.json`` is skipped; one without it is resumed: the
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
import datetime
import functools
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.multiprocessing.spawn import ProcessException

from elmo_bench.atomic import write_json
from elmo_bench.checksums import digest_files, verify_files
from elmo_bench.compared import sources_of
from elmo_bench.data.sources import file_sha256
from elmo_bench.digest import content_digest
from elmo_bench.pretrain.bilm.checkpoint import CHECKPOINT_NAME
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.run import pretrain
from elmo_bench.pretrain.bilm.wikitext import wikitext_files
from elmo_bench.pretrain.bilm_presets import BiLmPreset, get_preset
from elmo_bench.pretrain.corpus import CorpusConfig, CorpusError, corpus_fingerprint
from elmo_bench.pretrain.glove import GloveConfig, train_glove
from elmo_bench.pretrain.vocab import VocabConfig
from elmo_bench.runner.stage_processes import run_data_parallel, run_side_by_side, with_threads
from elmo_bench.settings import SettingsError

STAGE_RECORD = "stage.json"
STAGE_RECORD_VERSION = 1
RUNTIME_KEYS = ("workers", "threads")
"""Stage settings that change how fast a stage runs, not what it produces (not in its key)."""
INPUT_KEYS = ("corpus", "wikitext")
"""Stage settings that name input files: the key holds their content's digest, not their path."""

logger = logging.getLogger(__name__)


class StageError(SettingsError):
    """A stage that cannot run: a corpus path without a data folder, half-given sources, ..."""


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


def resolve_data_path(path: str | None, data_dir: Path | None, what: str) -> Path | None:
    """``path`` itself when absolute, else inside ``data_dir``; None stays None."""
    if path is None:
        return None
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    if data_dir is None:
        raise StageError(
            f"{what} {path!r} is relative to the data folder, but no data folder is set: set "
            "ELMO_BENCH_DATA, --set data_dir=PATH, or an absolute path"
        )
    return data_dir / candidate


def stage_key(name: str, config: Mapping[str, Any], input_digests: Mapping[str, str | None]) -> str:
    """The key of stage ``name``'s folder: a digest of the stage name, :data:`STAGE_RECORD_VERSION`,
    ``config`` without :data:`RUNTIME_KEYS` and :data:`INPUT_KEYS` (so neither thread counts nor
    where the inputs lie), and ``input_digests``, the content digests of its inputs (from
    :func:`stage_input_digests`)."""
    ignored = RUNTIME_KEYS + INPUT_KEYS
    identity = {
        "stage": name,
        "version": STAGE_RECORD_VERSION,
        "config": {key: value for key, value in config.items() if key not in ignored},
        "inputs": dict(input_digests),
    }
    return content_digest(identity, 16)


def stage_inputs(name: str, config: Mapping[str, Any], data_dir: Path | None) -> dict[str, Path | None]:
    """The resolved input paths of stage ``name`` (``glove`` or ``bilm``)."""
    inputs = {"corpus": resolve_data_path(config["corpus"], data_dir, f"pretrain.{name}.corpus")}
    if name == "bilm":
        inputs["wikitext"] = resolve_data_path(config["wikitext"], data_dir, "pretrain.bilm.wikitext")
    return inputs


def _corpus_config(config: Mapping[str, Any], corpus: Path) -> CorpusConfig:
    """The stage's corpus as both trainers read it (checks the held-out fraction and workers)."""
    return CorpusConfig(
        path=str(corpus), held_out_fraction=config["held_out_fraction"], workers=config["workers"]
    )


def stage_input_digests(
    name: str, config: Mapping[str, Any], inputs: Mapping[str, Path | None]
) -> dict[str, str | None]:
    """Content digests of the inputs (from :func:`stage_inputs`) of stage ``name``: ``corpus``,
    the corpus fingerprint of the tokenized-corpus cache (every shard's sha256 and name relative
    to the corpus root, the tokenizer, the held-out fraction); for the biLM ``wikitext``, a digest
    of the names and sha256 of the WikiText-2 files it evaluates on (None without WikiText).

    Raises:
        StageError: the corpus does not exist, holds no files or cannot be read; a WikiText-2 file
            is missing (the message names the setting and the path).
    """
    corpus = _corpus_config(config, inputs["corpus"])
    try:
        digests = {"corpus": corpus_fingerprint(corpus, corpus.shards())}
    except (CorpusError, OSError) as error:
        raise StageError(f"pretrain.{name}.corpus {config['corpus']!r}: {error}") from error
    if name == "bilm" and inputs["wikitext"] is None:
        digests["wikitext"] = None
    elif name == "bilm":
        try:
            files = wikitext_files(inputs["wikitext"]).values()
            hashes = {path.name: file_sha256(path) for path in files}
        except (PretrainError, OSError) as error:
            raise StageError(f"pretrain.bilm.wikitext {config['wikitext']!r}: {error}") from error
        digests["wikitext"] = content_digest(hashes)
    return digests


def _locate(
    name: str, config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path
) -> tuple[dict[str, Path | None], dict[str, str | None], Path]:
    """Stage ``name``'s input paths, their content digests and its folder."""
    inputs = stage_inputs(name, config, data_dir)
    digests = stage_input_digests(name, config, inputs)
    return inputs, digests, stages_dir / f"{name}-{stage_key(name, config, digests)}"


def stage_folder(name: str, config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path) -> Path:
    """``<stages_dir>/<name>-<key>``: where stage ``name`` with ``config`` writes its output (its
    inputs are hashed: see :func:`stage_input_digests`, which raises StageError for a missing one)."""
    return _locate(name, config, data_dir, stages_dir)[2]


def read_stage_record(folder: Path) -> dict[str, Any] | None:
    """The folder's ``stage.json`` when it is complete and its output files are those it recorded,
    else None (the stage then runs again, resuming its checkpoint).

    Each output is checked against its recorded checksum (``output_checksums``, once per process).
    A record from before checksums is adopted: its outputs' checksums are added to it now. An
    output that no longer matches is reported with its path and moved aside with the record
    (``*.corrupt-<time>``), so that the stage, resumed from its checkpoint, writes it again."""
    try:
        record = json.loads((folder / STAGE_RECORD).read_text(encoding="utf-8"))
        outputs = record["outputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("version") != STAGE_RECORD_VERSION:
        return None
    if not all(Path(path).is_file() for path in outputs.values()):
        return None
    files = {name: Path(path) for name, path in outputs.items()}
    recorded = record.get("output_checksums")
    if recorded is None:
        record["output_checksums"] = _output_checksums(files)
        write_json(folder / STAGE_RECORD, record)
        return record
    bad = {
        name: problems for name, digest in recorded.items() if name in files
        if (problems := verify_files(files[name].parent, {files[name].name: digest}))
    }
    if not bad and set(recorded) == set(files):
        return record
    suffix = f".corrupt-{time.strftime('%Y%m%dT%H%M%S')}"
    for path in [folder / STAGE_RECORD, *(files[name] for name in bad)]:
        path.rename(path.with_name(path.name + suffix))
    logger.warning(
        "stage %s: %s; moved aside (*%s), the stage runs again from its checkpoint", folder,
        "; ".join(f"{files[name]}: {', '.join(problems)}" for name, problems in bad.items())
        or "its checksums do not name its outputs", suffix,
    )
    return None


def _output_checksums(outputs: Mapping[str, Path]) -> dict[str, str]:
    """``{output name: sha256}`` of a stage's output files."""
    return {name: digest_files(path.parent, [path.name])[path.name] for name, path in outputs.items()}




def _finish(
    name: str,
    folder: Path,
    config: Mapping[str, Any],
    inputs: Mapping[str, Any],
    input_digests: Mapping[str, str | None],
    outputs: Mapping[str, Path],
    started: float,
    resumed: bool,
    details: Mapping[str, Any],
) -> dict[str, Any]:
    record = {
        "version": STAGE_RECORD_VERSION,
        "stage": name,
        "config": dict(config),
        "inputs": {key: str(value) for key, value in inputs.items()},
        "input_digests": dict(input_digests),
        "outputs": {key: str(path) for key, path in outputs.items()},
        "output_checksums": _output_checksums(outputs),
        "cost": {
            "wall_seconds_last_invocation": time.perf_counter() - started,
            "resumed": resumed,
            **details,
        },
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(folder / STAGE_RECORD, record)
    return record


def _glove_config(config: Mapping[str, Any], corpus: Path, folder: Path) -> GloveConfig:
    """The stage settings as a :class:`GloveConfig` (which checks the values)."""
    return GloveConfig(
        corpus=_corpus_config(config, corpus),
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
    inputs, digests, folder = _locate("glove", config, data_dir, stages_dir)
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
    record = _finish(
        "glove", folder, config, inputs, digests, {"vectors": vectors}, started, resumed,
        {"timings_seconds": summary["timings_s"], "train_tokens": summary["train_tokens"]},
    )
    return StageOutcome("glove", folder, stage_sources("glove", record["outputs"], folder), record, False)


def run_bilm_stage(
    config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path, log: Callable[[str], None]
) -> StageOutcome:
    """Pretrain the biLM (resuming its checkpoint when there is one, or find it done)."""
    inputs, digests, folder = _locate("bilm", config, data_dir, stages_dir)
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
    record = _finish(
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
