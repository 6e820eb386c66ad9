"""ELMo inference speed and memory on this machine, as ratios measured in the same run.

The original architecture (2x4096_512_2048cnn_2xhighway) with random weights written in the official
HDF5 layout embeds the first 2,000 sentences of CoNLL-2003 dev. Each configuration runs in its own
process (so its peak memory is its own) and times torch's fp32 matrix multiply right before it, so
every speed is also given as an efficiency: model FLOPs per token x tokens/s / matmul FLOP/s.

Configurations:
  baseline  this code used the common way: file order, batches of 64, char-CNN per batch
  fp32      the fast path: whole-input length sorting, token budget, char-CNN once per distinct token
  bf16      the fast path with bfloat16 matrix products (on a subset when this CPU has no bf16 units)
  long      one 5,000-token document, for peak memory

Usage: python benchmarks/elmo_speed.py [--sentences 2000] [--threads 2] [--out results/benchmarks/elmo_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from elmo_bench.data.conll2003 import read_conll2003
from elmo_bench.embedders.elmo.bilm import ElmoBiLm, remove_sentence_boundaries
from elmo_bench.embedders.elmo.chars import batch_to_ids
from elmo_bench.embedders.elmo.embedder import ElmoEmbedder
from elmo_bench.embedders.elmo.flops import char_cnn_flops, lstm_flops, model_flops_per_token
from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.embedders.elmo.weights import export_bilm

ARCHITECTURES = {
    "original": dict(cell_dim=4096, projection_dim=512, n_layers=2, cell_clip=3, proj_clip=3, char_embedding_dim=16,
                     filters=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)), n_highway=2),
    "small": dict(cell_dim=1024, projection_dim=128, n_layers=2, cell_clip=3, proj_clip=3, char_embedding_dim=16,
                  filters=((1, 32), (2, 32), (3, 64), (4, 128), (5, 256), (6, 512), (7, 1024)), n_highway=1),
}
CONFIGS = ("baseline", "fp32", "bf16", "long")
# AllenNLP's reference code on this kind of machine, 2 threads (issue 2): tokens/s.
ALLENNLP_COMMON, ALLENNLP_BEST = 210.0, 400.0


def matmul_flops_per_second(dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """The FLOP/s of one square matrix product, best of ``repeats``."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_sentences(count: int) -> list[list[str]]:
    return [s.tokens for s in read_conll2003("dev")[:count]]


def worker(config: str, model_dir: Path, count: int) -> dict:
    """Run one configuration; returns its figures."""
    options_path, weights_path = model_dir / "options.json", model_dir / "weights.hdf5"
    sentences = load_sentences(count)
    dtype = "bfloat16" if config == "bf16" else "float32"
    embedder = ElmoEmbedder.from_files(options_path, weights_path, dtype=dtype, compile=config != "baseline")
    options = embedder.bilm.options
    result: dict = {"config": config, "model_rss_mb": round(peak_rss_mb(), 1)}
    matmul = matmul_flops_per_second(torch.bfloat16 if config == "bf16" else torch.float32)
    result["matmul_gflops"] = round(matmul / 1e9, 2)

    if config == "bf16":
        fp32_matmul = matmul_flops_per_second(torch.float32)
        result["fp32_matmul_gflops"] = round(fp32_matmul / 1e9, 2)
        if matmul < fp32_matmul / 4:  # no bf16 units: keep the run short, but still measure it
            sentences = sentences[:40]
            result["note"] = "this CPU has no fast bf16 matrix products; bf16 timed on the first 40 sentences"
    if config == "long":
        document = [token for s in load_sentences(400) for token in s][:5000]
        sentences = [document]

    embedder.embed(load_sentences(8))  # warm-up, untimed: compiles the fused LSTM step
    tokens = sum(len(s) for s in sentences)
    start = time.perf_counter()
    if config == "baseline":
        with torch.inference_mode():
            for begin in range(0, len(sentences), 64):
                embedder.bilm(batch_to_ids(sentences[begin : begin + 64]))
    else:
        outputs = dict(embedder.iter_embeddings(sentences, progress=False))
    seconds = time.perf_counter() - start
    result.update(sentences=len(sentences), tokens=tokens, seconds=round(seconds, 2), tokens_per_s=round(tokens / seconds, 1))
    result["efficiency"] = round(model_flops_per_token(options) * tokens / seconds / matmul, 3)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)

    if config in ("fp32", "bf16"):
        # Outputs against the plain batched forward in float32 on the first sentences.
        check = sentences[:32]
        reference_bilm = ElmoEmbedder.from_files(options_path, weights_path).bilm
        with torch.inference_mode():
            out = reference_bilm(batch_to_ids(check))
        difference = 0.0
        for i, sentence in enumerate(check):
            reference = torch.stack([remove_sentence_boundaries(layer, out.mask)[0][i, : len(sentence)] for layer in out.layers])
            difference = max(difference, (outputs[i] - reference).abs().max().item())
        result["max_abs_diff_vs_fp32_reference"] = difference
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="original")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/elmo_speed.json"))
    parser.add_argument("--worker", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    if args.worker:
        print(json.dumps(worker(args.worker, args.model_dir, args.sentences)))
        return

    options = ElmoOptions(**ARCHITECTURES[args.architecture])
    with tempfile.TemporaryDirectory() as model_dir:
        torch.manual_seed(0)
        export_bilm(ElmoBiLm(options), Path(model_dir) / "options.json", Path(model_dir) / "weights.hdf5")
        runs = {}
        for config in args.configs:
            command = [sys.executable, __file__, "--worker", config, "--model-dir", model_dir,
                       "--sentences", str(args.sentences), "--threads", str(args.threads)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ).stdout
            runs[config] = json.loads(output.strip().splitlines()[-1])
            print(json.dumps(runs[config]))

    summary = {
        "architecture": args.architecture,
        "threads": args.threads,
        "model_gflops_per_token": round(model_flops_per_token(options) / 1e9, 4),
        "char_cnn_gflops_per_token": round(char_cnn_flops(options) / 1e9, 4),
        "lstm_gflops_per_token": round(lstm_flops(options) / 1e9, 4),
        "torch": torch.__version__,
        "runs": runs,
    }
    if "fp32" in runs:
        fp32 = runs["fp32"]
        summary["fp32_limit_tokens_per_s"] = round(fp32["matmul_gflops"] * 1e9 / model_flops_per_token(options), 1)
        if "baseline" in runs:
            summary["fp32_speedup_vs_baseline"] = round(fp32["tokens_per_s"] / runs["baseline"]["tokens_per_s"], 2)
        summary["fp32_vs_allennlp_best_quoted"] = round(fp32["tokens_per_s"] / ALLENNLP_BEST, 2)
    if "bf16" in runs and "fp32" in runs:
        summary["bf16_speedup_vs_fp32"] = round(runs["bf16"]["tokens_per_s"] / runs["fp32"]["tokens_per_s"], 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"\n{'config':<9} {'tokens/s':>9} {'efficiency':>10} {'peak MB':>8}")
    for config, run in runs.items():
        print(f"{config:<9} {run['tokens_per_s']:>9} {run['efficiency']:>10.1%} {run['peak_rss_mb']:>8}")
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
