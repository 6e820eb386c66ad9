"""biLM pretraining speed on this machine, as a share of its own fp32 matrix-multiply throughput.

Times optimizer steps of a preset (default ``cpu-small``) on the first batches of the real training
corpus (``$ELMO_BENCH_DATA/corpus/wikipedia``, tokenized once and cached) and, in the same run, a
2048 x 2048 @ 2048 x 2048 fp32 product with the same number of threads (before and after the steps;
the mean is used). Efficiency = training FLOPs per token x tokens/s / matmul FLOP/s, where the
training FLOPs are 3 x the forward matrix-product FLOPs (the backward pass costs about two forward
passes) counted on the very batches timed: char CNN once per distinct token, the biLSTM at every
position, the adaptive softmax head plus the tail clusters actually evaluated. A token is one
prediction target per direction (a word or the sentence-end marker).

The machine may be shared, so the same ratio is also given per CPU second (process time) of the
training steps and of the matmul, which other processes taking turns on the cores do not skew; the
load average is recorded. ``--compare-optimizers N`` also trains Adam and bilm-tf's Adagrad (0.2)
N steps each from the same initialisation and records their held-out perplexity.

Under ``torchrun --nproc_per_node=N`` it times data-parallel training (DDP, gloo on the CPU):
each process trains on its share of every step with ``--threads`` threads, and the matmul is
timed on rank 0 with ``N x --threads`` threads while the others wait, so the ratio is still
against the whole machine. On 2 cores, 2 one-thread processes beat 1 two-thread process: the
batch's per-time-step products (about 100 rows) are too small to split well over two threads.

Set ``OMP_WAIT_POLICY=PASSIVE`` on a busy machine (see ``elmo_bench/commands/pretrain.py``).

Usage: python benchmarks/pretrain_bilm.py [--preset cpu-small] [--steps 30] [--threads 2]
       [--compare-optimizers 0] [--out results/benchmarks/pretrain_bilm.json]
       torchrun --nproc_per_node=2 benchmarks/pretrain_bilm.py --threads 1 \
           --out results/benchmarks/pretrain_bilm_ddp.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from elmo_bench.atomic import write_json
from elmo_bench.paths import data_dir
from elmo_bench.pretrain.bilm.corpus_source import DataSettings
from elmo_bench.pretrain.bilm.data import make_batch
from elmo_bench.pretrain.bilm.distributed import DistributedContext, init_distributed
from elmo_bench.pretrain.bilm.model import forward_flops
from elmo_bench.pretrain.bilm.sources import load_pretraining_source
from elmo_bench.pretrain.bilm.trainer import BiLmTrainer
from elmo_bench.pretrain.bilm_presets import get_preset
from elmo_bench.settings import parse_sections

REPO = Path(__file__).resolve().parents[1]


def matmul_rates(size: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """FLOPs per wall second and per CPU second of one fp32 ``size`` x ``size`` square product,
    best of ``repeats`` each."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        a @ b
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return 2 * size**3 / best_wall, 2 * size**3 / best_cpu


def machine_matmul_rates(context: DistributedContext, threads: int) -> tuple[float, float]:
    """:func:`matmul_rates` with all of the run's threads (``world_size x threads``), taken on rank 0
    while the other ranks wait; every rank gets rank 0's figures."""
    rates = torch.zeros(2, dtype=torch.float64)
    if context.is_main:
        torch.set_num_threads(threads * context.world_size)
        rates = torch.tensor(matmul_rates(), dtype=torch.float64)
        torch.set_num_threads(threads)
    if context.world_size > 1:
        dist.broadcast(rates, src=0)
    return float(rates[0]), float(rates[1])


def compare_optimizers(preset_name: str, overrides: dict[str, dict], source, steps: int) -> list[dict]:
    """Held-out perplexity after ``steps`` steps from the same initialisation, per optimizer.

    Both use the preset's schedule shape over ``steps`` steps (10% warm-up, cosine decay); Adagrad
    at bilm-tf's learning rate 0.2, Adam at the preset's.
    """
    results = []
    for optimizer, rate in (("adam", None), ("adagrad", 0.2)):
        train = {**overrides.get("train", {}), "optimizer": optimizer, "max_steps": steps,
                 "warmup_steps": max(1, steps // 10)}
        if rate is not None:
            train["learning_rate"] = rate
        preset = get_preset(preset_name, {**overrides, "train": train})
        trainer = BiLmTrainer(preset, source, Path("/nonexistent-never-written"))
        heldout = source.heldout.head(preset.train.eval_tokens)
        curve = []
        started = time.perf_counter()
        for step in range(1, steps + 1):
            trainer.train_step()
            if step % max(1, steps // 4) == 0 or step == steps:
                curve.append({"step": step, "tokens_seen": trainer.position.tokens_seen,
                              "heldout_mean_ppl": round(trainer.evaluate(heldout).mean, 1)})
                print(optimizer, curve[-1], flush=True)
        results.append({"optimizer": optimizer, "learning_rate": preset.train.learning_rate, "curve": curve,
                        "seconds": round(time.perf_counter() - started, 1)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu-small")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--steps", type=int, default=30, help="timed optimizer steps (after 3 warm-up steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "results" / "benchmarks" / "pretrain_bilm.json")
    parser.add_argument("--compare-optimizers", type=int, default=0, metavar="STEPS",
                        help="also train Adam and Adagrad STEPS steps each from one init and compare held-out perplexity")
    args = parser.parse_args(argv)
    root = data_dir()
    if root is None:
        print("set ELMO_BENCH_DATA to the data folder (the corpus is read from corpus/wikipedia)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    context = init_distributed()
    if args.compare_optimizers and context.world_size > 1:
        print("--compare-optimizers runs in one process, not under torchrun", file=sys.stderr)
        return 2
    overrides = parse_sections(args.set, "--set", "train.max_steps=100")
    preset = get_preset(args.preset, overrides)
    source = load_pretraining_source(DataSettings(str(root / "corpus" / "wikipedia")), preset.vocab)
    trainer = BiLmTrainer(preset, source, Path("/nonexistent-never-written"), context)
    n_words = len(source.vocabulary)
    n_parameters = sum(p.numel() for p in trainer.model.parameters())

    load_before = os.getloadavg()[0]
    matmul_before = machine_matmul_rates(context, args.threads)
    for _ in range(3):
        trainer.train_step()
    flops = {"char_cnn": 0.0, "lstm": 0.0, "softmax": 0.0}
    tokens, distinct, positions, seconds, cpu_seconds = 0, 0, 0, 0.0, 0.0
    for _ in range(args.steps):
        # Count the FLOPs and targets of the batches the next step trains on (all ranks' share),
        # outside the timed part.
        for members in trainer.step_batches():
            batch = make_batch(source.train, trainer.windows, members, source.vocabulary.bos_id, source.vocabulary.eos_id)
            for part, value in forward_flops(preset.model, n_words, batch).items():
                flops[part] += value
            distinct += len(batch.distinct_types)
            positions += batch.word_ids.numel()
            tokens += batch.n_targets
        started, cpu_started = time.perf_counter(), time.process_time()
        trainer.train_step()
        seconds += time.perf_counter() - started
        cpu_seconds += time.process_time() - cpu_started
    matmul_after = machine_matmul_rates(context, args.threads)
    load_after = os.getloadavg()[0]
    cpu_seconds = context.all_reduce_sum([cpu_seconds])[0]  # every process's CPU time
    if context.world_size > 1:
        trainer.leave_process_group()
    if not context.is_main:
        return 0
    matmul = (matmul_before[0] + matmul_after[0]) / 2
    matmul_cpu = (matmul_before[1] + matmul_after[1]) / 2

    tokens_per_second = tokens / seconds
    forward_per_token = {part: value / tokens for part, value in flops.items()}
    forward_total = sum(forward_per_token.values())
    training_per_token = 3 * forward_total
    achieved = training_per_token * tokens_per_second
    achieved_cpu = training_per_token * tokens / cpu_seconds
    result = {
        "preset": preset.name,
        "model": preset.model.__dict__ | {"filters": [list(f) for f in preset.model.filters]},
        "train": {"batch_tokens": preset.train.batch_tokens, "max_window": preset.train.max_window,
                  "optimizer": preset.train.optimizer},
        "parameters": n_parameters,
        "vocabulary_size": n_words,
        "processes": context.world_size,
        "threads": args.threads,
        "timed_steps": args.steps,
        "tokens": int(tokens),
        "seconds": round(seconds, 2),
        "tokens_per_second": round(tokens_per_second, 1),
        "distinct_tokens_per_position": round(distinct / positions, 3),
        "forward_mflops_per_token": {part: round(value / 1e6, 3) for part, value in forward_per_token.items()}
        | {"total": round(forward_total / 1e6, 3)},
        "training_mflops_per_token": round(training_per_token / 1e6, 3),
        "achieved_gflops": round(achieved / 1e9, 2),
        "matmul_gflops": {"before": round(matmul_before[0] / 1e9, 2), "after": round(matmul_after[0] / 1e9, 2),
                          "mean": round(matmul / 1e9, 2)},
        "efficiency": round(achieved / matmul, 3),
        # The same ratio per CPU second (process time) of each: insensitive to other processes
        # taking turns on the cores, which the wall-clock ratio is not.
        "cpu_seconds": round(cpu_seconds, 2),
        "achieved_gflops_per_cpu_second": round(achieved_cpu / 1e9, 2),
        "matmul_gflops_per_cpu_second": round(matmul_cpu / 1e9, 2),
        "efficiency_cpu_time": round(achieved_cpu / matmul_cpu, 3),
        "load_average": {"before": load_before, "after": load_after, "cores": os.cpu_count()},
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
    }
    if args.compare_optimizers:
        result["optimizer_comparison"] = compare_optimizers(args.preset, overrides, source, args.compare_optimizers)
    print(json.dumps(result, indent=2))
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
