"""A pretraining run's entry points: start or resume it (:func:`pretrain`), summarise its folder."""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch.distributed as dist

from elmo_bench.atomic import remove_temporaries, write_atomically, write_json
from elmo_bench.pretrain.bilm.checkpoint import CHECKPOINT_NAME
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.distributed import init_distributed
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.model import BiLanguageModel
from elmo_bench.pretrain.bilm.sources import load_pretraining_source
from elmo_bench.pretrain.bilm.trainer import BiLmTrainer, StopRule
from elmo_bench.pretrain.bilm_presets import BiLmPreset

logger = logging.getLogger(__name__)


def pretrain(
    preset: BiLmPreset | None,
    data: DataSettings | None,
    output_dir: Path,
    resume: bool = False,
    stop: StopRule = StopRule(),
    device: str | None = None,
) -> BiLmTrainer:
    """Start (``preset`` and ``data`` given) or resume (both None, read from ``output_dir``) a run.

    Works in one process or under ``torchrun`` (each rank a process). Returns the trainer after
    it stopped (its ``position``; ``output_dir`` holds the checkpoint, metrics and export). A
    process group it started (under ``torchrun``) it destroys before returning. The temporary
    files that a killed run left in ``output_dir`` (a half-written ``.checkpoint-*.pt``, say) are
    removed first: the folder is this run's alone.

    Raises:
        PretrainError: starting over an existing checkpoint, resuming without one, or a
            checkpoint that does not fit the data.
    """
    output_dir = Path(output_dir)
    config_path = output_dir / "config.json"
    owns_process_group = not dist.is_initialized()
    context = init_distributed(device)
    if resume:
        if preset is not None or data is not None:
            raise PretrainError("a resumed run takes its preset and data from its folder; give neither")
        if not (output_dir / CHECKPOINT_NAME).is_file():
            raise PretrainError(f"{output_dir / CHECKPOINT_NAME}: no checkpoint to resume from")
        try:
            saved = json.loads(config_path.read_text(encoding="utf-8"))
            preset, data = BiLmPreset.from_dict(saved["preset"]), DataSettings(**saved["data"])
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as error:
            raise PretrainError(f"{config_path}: cannot read the run's configuration ({error})") from error
    else:
        if preset is None or data is None:
            raise PretrainError("a new run needs a preset and data settings")
        if (output_dir / CHECKPOINT_NAME).exists():
            raise PretrainError(
                f"{output_dir / CHECKPOINT_NAME} exists: pass --resume to continue that run, or choose "
                "another output folder"
            )
    if context.is_main:  # before any rank writes there
        for leftover in remove_temporaries(output_dir):
            logger.info("removed %s, left by a run that was killed while writing it", leftover)
    # Rank 0 tokenizes and builds the caches first; the other ranks then read them.
    source = load_pretraining_source(data, preset.vocab) if context.is_main else None
    if context.world_size > 1:
        dist.barrier()
    if source is None:
        source = load_pretraining_source(data, preset.vocab)
    if context.is_main and not resume:
        write_json(config_path, {"preset": preset.to_dict(), "data": asdict(data), "source": source.description,
                                 "world_size": context.world_size})
    trainer = BiLmTrainer(preset, source, output_dir, context)
    if resume:
        trainer.load_checkpoint()
        if context.is_main:
            logger.info("resumed %s at step %d (epoch %d, %.2fM tokens)", trainer.checkpoint_path,
                        trainer.position.step, trainer.position.epoch, trainer.position.tokens_seen / 1e6)
    trainer.train(stop)
    if context.world_size > 1 and owns_process_group:
        trainer.leave_process_group()
    return trainer


def write_run_summary(output_dir: Path, summary_path: Path, notes: Sequence[str] = ()) -> dict[str, Any]:
    """Summarise a run folder into ``summary_path`` (JSON) and the perplexity curve beside it (CSV).

    Records the configuration, data sizes, steps, tokens, average training speed, the held-out
    curve, the final perplexities, where the exported model is, and free-text ``notes`` (what the
    figures cannot show, e.g. that the machine was shared).
    """
    output_dir, summary_path = Path(output_dir), Path(summary_path)
    try:
        config = json.loads((output_dir / "config.json").read_text(encoding="utf-8"))
        metrics = json.loads((output_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise PretrainError(f"{output_dir}: not a finished run folder ({error})") from error
    preset = BiLmPreset.from_dict(config["preset"])
    n_parameters = sum(p.numel() for p in BiLanguageModel(preset.model, config["source"]["vocabulary_size"]).parameters())
    summary = {
        "preset": config["preset"],
        "parameters": n_parameters,
        "data": config["source"],
        "world_size": config.get("world_size", 1),
        "steps": metrics["step"],
        "tokens_seen": metrics["tokens_seen"],
        "train_seconds": metrics["train_seconds"],
        "tokens_per_second": round(metrics["tokens_seen"] / max(metrics["train_seconds"], 1e-9), 1),
        "token_unit": "prediction targets per direction (words plus one sentence-end marker per sentence)",
        "curve": metrics["curve"],
        "final": metrics.get("final"),
        "export": {name: str(output_dir / name) for name in ("options.json", "weights.hdf5", "vocab.txt")},
        "notes": list(notes),
    }
    write_json(summary_path, summary)
    columns = ["step", "tokens_seen", "train_seconds", "forward_ppl", "backward_ppl", "mean_ppl", "train_ppl"]

    def cell(value: Any) -> str:
        return "" if value is None else str(value) if isinstance(value, int) else f"{value:.6g}"

    lines = [",".join(columns)] + [",".join(cell(entry.get(column)) for column in columns) for entry in metrics["curve"]]
    csv_text = "\n".join(lines) + "\n"
    write_atomically(summary_path.with_suffix(".csv"),
                     lambda temp: Path(temp).write_text(csv_text, encoding="utf-8"))
    return summary
