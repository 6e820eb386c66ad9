"""``elmo-bench pretrain``: pretrain a biLM (ELMo's language model) on a corpus, resumably.

One process: ``elmo-bench pretrain --preset cpu-small --output runs/bilm``; several:
``torchrun --nproc_per_node=N -m elmo_bench.cli pretrain ...`` (DDP; gloo on CPU, nccl on GPU).
Continue a stopped run with ``elmo-bench pretrain --output runs/bilm --resume``.

The output folder gets ``checkpoint.pt`` (every ``train.checkpoint_every`` steps), ``metrics.json``
(held-out perplexity curve, final perplexities), and, whenever a run stops, the biLM in AllenNLP
format (``options.json``, ``weights.hdf5``) with its ``vocab.txt``.

On a shared CPU, set ``OMP_WAIT_POLICY=PASSIVE`` in the environment (before Python starts): with
the default spin-waiting, two threads competing with other processes ran 3-5x slower than one.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

from elmo_bench.devices import resolve_device
from elmo_bench.paths import data_dir
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.errors import PretrainError
from elmo_bench.pretrain.bilm.run import pretrain, write_run_summary
from elmo_bench.pretrain.bilm.trainer import StopRule
from elmo_bench.pretrain.bilm_presets import PRESETS, get_preset
from elmo_bench.settings import parse_sections


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, required=True, help="run folder (checkpoint, metrics, export)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --output from its checkpoint")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu-small", help="model size and schedule")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                        help="override a preset field, e.g. --set train.max_steps=2000 or vocab.max_words=null "
                        "(the value as JSON, else as text; repeatable)")
    data = parser.add_argument_group("data (new runs; a resumed run reuses its own)")
    data.add_argument("--corpus", type=Path, help="corpus file or folder (default: $ELMO_BENCH_DATA/corpus/wikipedia)")
    data.add_argument("--packed", type=Path,
                      help="packed corpus (python -m elmo_bench.pretrain.packed) to train on instead of --corpus")
    data.add_argument("--vocab", type=Path, help="bilm-tf vocabulary file to use instead of building one")
    data.add_argument("--held-out-fraction", type=float, default=0.01, help="documents held out for perplexity")
    data.add_argument("--workers", type=int, default=2, help="tokenizer processes (first use of a corpus)")
    data.add_argument("--wikitext", type=Path,
                      help="WikiText-2 folder for the final perplexities (default: "
                           "$ELMO_BENCH_DATA/corpus/eval/wikitext-2 when present; 'none' to skip)")
    control = parser.add_argument_group("this invocation")
    control.add_argument("--max-minutes", type=float, help="stop (with a checkpoint and export) after this long")
    control.add_argument("--stop-after-steps", type=int, help="stop after this many optimizer steps")
    control.add_argument("--evaluate-on-stop", action="store_true",
                         help="run the final evaluations also when stopping before the schedule ends")
    control.add_argument("--threads", type=int, help="torch threads per process (default: torch's choice)")
    control.add_argument("--device", default="auto",
                         help="auto (each rank's GPU when torch can use one, else the CPU; prints its "
                         "choice), cpu or cuda (default auto)")
    control.add_argument("--summary", type=Path,
                         help="when the run stops, write a JSON summary here (and the curve as CSV beside it)")


def _data_settings(args: argparse.Namespace) -> DataSettings:
    root = data_dir()
    corpus = args.corpus
    if args.packed is not None:
        if corpus is not None or args.vocab is not None:
            raise PretrainError("--packed carries its own text and vocabulary; give neither --corpus nor --vocab")
        corpus = args.packed
    elif corpus is None:
        if root is None:
            raise PretrainError("give --corpus, or set ELMO_BENCH_DATA to the data folder")
        corpus = root / "corpus" / "wikipedia"
    wikitext = args.wikitext
    if wikitext is None and root is not None and (root / "corpus" / "eval" / "wikitext-2").is_dir():
        wikitext = root / "corpus" / "eval" / "wikitext-2"
    if wikitext is not None and str(wikitext).lower() == "none":
        wikitext = None
    return DataSettings(
        corpus=str(corpus),
        held_out_fraction=args.held_out_fraction,
        workers=args.workers,
        vocab_file=None if args.vocab is None else str(args.vocab),
        wikitext_dir=None if wikitext is None else str(wikitext),
        packed=None if args.packed is None else str(args.packed),
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    stop = StopRule(args.stop_after_steps, args.max_minutes, args.evaluate_on_stop)
    device = resolve_device(args.device).partition(":")[0]
    if args.resume:
        if args.overrides:
            raise PretrainError("--set cannot change a resumed run; its configuration is in its checkpoint")
        trainer = pretrain(None, None, args.output, resume=True, stop=stop, device=device)
    else:
        overrides = parse_sections(args.overrides, "--set", "train.max_steps=2000")
        trainer = pretrain(get_preset(args.preset, overrides), _data_settings(args), args.output,
                           stop=stop, device=device)
    if trainer.context.is_main:
        summary = {"output": str(args.output), "step": trainer.position.step,
                   "tokens_seen": trainer.position.tokens_seen,
                   "train_seconds": round(trainer.position.train_seconds, 1)}
        if trainer.position.history:
            summary["heldout"] = trainer.position.history[-1]
        print(json.dumps(summary, indent=2))
        if args.summary is not None:
            write_run_summary(args.output, args.summary)
    return 0
