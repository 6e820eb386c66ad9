"""Where a pretraining stage writes, and the record of a finished one.

A stage (``glove`` or ``bilm``) writes into its own folder ``<stages_dir>/<stage>-<key>``, where
``key`` (:func:`stage_key`) is a digest of what determines the stage's output: its settings (sizes,
schedule; not thread or worker counts, nor the paths of its inputs) and the *content* of its inputs
(the corpus's fingerprint, :func:`elmo_bench.pretrain.corpus.corpus_fingerprint`: every shard's
sha256 and relative name, the tokenizer and the held-out fraction; for the biLM also the sha256 of
the WikiText-2 files it evaluates on). A changed setting or a corpus changed in place is therefore
a new folder, never a stale output, and the same corpus at another path (another machine, another
``ELMO_BENCH_DATA``) finds the stage done. File hashes are cached per (path, modification time,
size) within a process (:func:`elmo_bench.data.sources.file_sha256`).

A finished stage's ``stage.json`` (:func:`write_stage_record`) holds its settings, its output
files, its cost, and the sha256 of each output, checked before a later run reuses it
(:func:`read_stage_record`). :mod:`elmo_bench.runner.stages` runs the stages.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from elmo_bench.atomic import corrupt_suffix, write_json
from elmo_bench.checksums import digest_files, verify_files
from elmo_bench.data.sources import file_sha256
from elmo_bench.digest import content_digest
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.wikitext import wikitext_files
from elmo_bench.pretrain.corpus import CorpusConfig, CorpusError, corpus_fingerprint
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


def stage_corpus_config(config: Mapping[str, Any], corpus: Path) -> CorpusConfig:
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
    corpus = stage_corpus_config(config, inputs["corpus"])
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


def locate_stage(
    name: str, config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path
) -> tuple[dict[str, Path | None], dict[str, str | None], Path]:
    """Stage ``name``'s input paths (:func:`stage_inputs`), their content digests
    (:func:`stage_input_digests`) and its folder (:func:`stage_folder`)."""
    inputs = stage_inputs(name, config, data_dir)
    digests = stage_input_digests(name, config, inputs)
    return inputs, digests, stages_dir / f"{name}-{stage_key(name, config, digests)}"


def stage_folder(name: str, config: Mapping[str, Any], data_dir: Path | None, stages_dir: Path) -> Path:
    """``<stages_dir>/<name>-<key>``: where stage ``name`` with ``config`` writes its output (its
    inputs are hashed: see :func:`stage_input_digests`, which raises StageError for a missing one)."""
    return locate_stage(name, config, data_dir, stages_dir)[2]


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
    suffix = corrupt_suffix()
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


def write_stage_record(
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
    """Write the ``stage.json`` of finished stage ``name`` into ``folder`` and return it: its
    settings, inputs (paths and content digests), outputs with their sha256, and its cost (wall
    seconds since ``started``, a ``time.perf_counter()`` value, whether it ``resumed``, and the
    trainer's ``details``)."""
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
