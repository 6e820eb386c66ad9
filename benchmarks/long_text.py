"""Long texts: embedding time and peak memory against document length.

Four ways to embed the first N tokens of Wikipedia text (articles' tokens concatenated, tokenized
and sentence-split as pretraining does):

  glove           GloVe lookup of the N tokens (one sequence; a static embedder has no context)
  elmo-document   ELMo on the N tokens as ONE sequence: the biLSTM runs N steps with batch 1
  elmo-sentences  ELMo sentence by sentence (packed into rows, as the benchmark embeds tasks)
  transformer     the transformer reference (all-MiniLM-L6-v2 unless --transformer-model) on the N
                  tokens as ONE sequence: its word pieces are cut into overlapping windows of 512
                  (``TransformerEmbedder``), each word taking its vectors from one window

Each (mode, length) runs in a fresh subprocess, so its peak resident memory is its own: the
subprocess loads the embedder, embeds one short sentence (warm-up), resets the kernel's peak-RSS
mark (``/proc/self/clear_refs``, so that loading's transient peak does not count), embeds the text
``--repeats`` times (the fastest is kept) and reports seconds, tokens/s, the resident size of the
loaded model and the peak (``VmHWM``). The parent measures the fp32 matrix-multiply throughput with the same
thread count before and after, and gives each contextual model's efficiency: the matrix-product work
actually done per second, as a share of the mean matmul FLOP/s. For ELMo that is the char-CNN once
per distinct token and the biLSTM at every position (``elmo_bench/embedders/elmo/flops.py``); for
the transformer, every block's projections, feed-forward and attention products over every window,
overlaps included (``elmo_bench/embedders/transformer_costs.py``). GloVe does no matrix products
(no efficiency).

Before anything runs, each (mode, length) gets a memory estimate (:func:`estimate_memory_mb`, from
the memory models of ``elmo_bench/embedders/elmo/memory.py`` and
``elmo_bench/embedders/transformer_costs.py`` plus the text's own records); one
above ``--max-memory-mb`` is refused with the estimate instead of being run into an out-of-memory
kill (first on a lower bound, before any text is read, then on the full estimate, which needs the
text's distinct tokens and, for the transformer, its word pieces). The table and the JSON record the estimate beside the measured peak.

Usage: python benchmarks/long_text.py [--elmo-options O --elmo-weights W | --elmo-model small]
           [--glove VECTORS] [--transformer-model DIR] [--corpus DIR]
           [--lengths 100,300,1000,3000,10000,20000]
           [--modes glove,elmo-document,elmo-sentences,transformer] [--threads 1] [--repeats 2]
           [--max-memory-mb MB] [--timeout 600] [--out results/benchmarks/long_text.json]
Writes the JSON, a markdown table (``.md``) and a log-log plot (``.png``) beside it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from elmo_bench.analysis.figures import loglog_figure, save_figure
from elmo_bench.atomic import write_atomically
from elmo_bench.embedders import transformer_costs
from elmo_bench.embedders.elmo import flops as elmo_flops
from elmo_bench.embedders.elmo import memory as elmo_memory
from elmo_bench.embedders.elmo.embedder import ElmoEmbedder
from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.embedders.transformer_costs import TransformerShape
from elmo_bench.machine import matmul_flops_per_second, rss_mb
from elmo_bench.paths import data_dir
from elmo_bench.pretrain.corpus import find_file_shards, tokenize_paragraph

MODES = ("glove", "elmo-document", "elmo-sentences", "transformer")
DEFAULT_LENGTHS = (100, 300, 1000, 3000, 10000, 20000)
MB = 2**20
# Memory (bytes) besides the embedders' own models (checked against the measured peaks in the
# output table, with them):
# - the text: a token as a Python string in a list, in the JSON handed to the worker, ~100 bytes;
# - GloVe: the index, the gathered rows and the masked copy, for vectors of up to 300 dimensions.
TEXT_BYTES_PER_TOKEN = 100
GLOVE_BYTES_PER_TOKEN = 8 + 2 * 300 * 4
TRANSFORMER_BATCH_WINDOWS = 32  # windows per forward pass of the transformer mode


class LongTextError(ValueError):
    """A benchmark request that cannot be met (too little text, no model)."""


@dataclass(frozen=True)
class Measurement:
    """One (mode, length) cell of the table: measured, refused, or failed."""

    mode: str
    tokens: int
    estimated_mb: float
    status: str  # "measured", "refused", "failed"
    distinct_tokens: int | None = None
    sentences: int | None = None
    pieces: int | None = None  # transformer: word pieces of the text
    windows: int | None = None  # transformer: windows they were cut into
    seconds: float | None = None
    tokens_per_second: float | None = None
    model_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    peak_above_model_mb: float | None = None
    efficiency: float | None = None
    message: str | None = None


def estimate_memory_mb(mode: str, tokens: int, distinct: int, options: ElmoOptions | None = None,
                       transformer: TransformerShape | None = None, pieces: int = 0) -> float:
    """Estimated peak resident memory above the loaded model, in MB: the text's records plus the
    embedder's own model (:mod:`elmo_bench.embedders.elmo.memory`,
    :mod:`elmo_bench.embedders.transformer_costs`).

    Args:
        mode: one of :data:`MODES`.
        tokens: the text's length.
        distinct: its distinct tokens; 0 gives a lower bound (before the text is read).
        options: the biLM's architecture (the ELMo modes need it).
        transformer: the transformer's shape (the transformer mode needs it).
        pieces: the text's word pieces under the transformer's tokenizer; 0 gives a lower bound
            (one piece a word).
    """
    if mode not in MODES:
        raise LongTextError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    text = tokens * TEXT_BYTES_PER_TOKEN
    if mode == "glove":
        return (text + tokens * GLOVE_BYTES_PER_TOKEN) / MB
    if mode == "transformer":
        if transformer is None:
            raise LongTextError("the transformer mode's memory estimate needs the transformer's shape")
        return (text + transformer_costs.embedding_bytes(transformer, tokens, pieces or tokens)) / MB
    if options is None:
        raise LongTextError(f"the {mode} mode's memory estimate needs the biLM's options")
    return (text + elmo_memory.embedding_bytes(options, tokens, distinct, mode == "elmo-document")) / MB


def wikipedia_sentences(corpus: Path, tokens: int) -> list[list[str]]:
    """Sentences of the corpus's first articles, in order, until they hold ``tokens`` tokens.

    Raises:
        LongTextError: the corpus holds fewer tokens.
    """
    sentences: list[list[str]] = []
    count = 0
    for shard in find_file_shards(corpus):
        for document in shard.documents():
            for paragraph in document.paragraphs:
                for sentence in tokenize_paragraph(paragraph):
                    sentences.append(sentence)
                    count += len(sentence)
                    if count >= tokens:
                        return sentences
    raise LongTextError(f"{corpus}: the corpus holds {count} tokens, fewer than the {tokens} asked")


def first_tokens(sentences: list[list[str]], tokens: int) -> list[list[str]]:
    """The sentences covering the first ``tokens`` tokens (the last one cut)."""
    kept, count = [], 0
    for sentence in sentences:
        if count >= tokens:
            break
        kept.append(sentence[: tokens - count])
        count += len(kept[-1])
    return kept


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current size (Linux >= 4.0), so that the
    peak read later is that of the embedding, not of loading the model; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _peak_rss_mb() -> float:
    """``VmHWM`` of /proc/self/status (the peak since the last reset), else ``ru_maxrss``."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _transformer_model_dir(args: argparse.Namespace) -> Path:
    from elmo_bench.embedders.transformer import minilm_model_dir

    return args.transformer_model or minilm_model_dir()


def _load_embedder(args: argparse.Namespace, mode: str):
    if mode == "glove":
        from elmo_bench.embedders.static import StaticEmbedder

        return StaticEmbedder(args.glove)
    if mode == "transformer":
        from elmo_bench.embedders.transformer import TransformerEmbedder

        return TransformerEmbedder(_transformer_model_dir(args), batch_size=TRANSFORMER_BATCH_WINDOWS)
    if args.elmo_options is not None:
        return ElmoEmbedder.from_files(args.elmo_options, args.elmo_weights)
    return ElmoEmbedder.from_name(args.elmo_model)


def worker(args: argparse.Namespace) -> dict:
    """Embed the first ``args.length`` tokens in ``args.mode``; runs in its own process."""
    torch.set_num_threads(args.threads)
    sentences = first_tokens(json.loads(Path(args.text).read_text(encoding="utf-8")), args.length)
    document = [token for sentence in sentences for token in sentence]
    embedder = _load_embedder(args, args.worker)
    embedder.embed([document[:20]])  # warm-up: first-call allocations and kernel choices
    model_rss = rss_mb()
    peak_is_embedding_only = _reset_peak_rss()
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        if args.worker == "elmo-sentences":
            outputs = dict(embedder.iter_embeddings(sentences, progress=False))
        else:
            outputs = embedder.embed([document])
        best = min(best, time.perf_counter() - start)
        del outputs
    return {
        "seconds": best,
        "tokens": len(document),
        "sentences": len(sentences),
        "model_rss_mb": model_rss,
        "peak_rss_mb": _peak_rss_mb(),
        "peak_is_embedding_only": peak_is_embedding_only,
    }


def measure(args: argparse.Namespace, mode: str, tokens: int, distinct: int, text_path: Path,
            estimate: float) -> Measurement:
    """Run one (mode, length) in a subprocess and read its result (efficiency not yet set)."""
    command = [sys.executable, __file__, "--worker", mode, "--length", str(tokens),
               "--text", str(text_path), "--threads", str(args.threads), "--repeats", str(args.repeats)]
    for flag, value in (("--elmo-options", args.elmo_options), ("--elmo-weights", args.elmo_weights),
                        ("--elmo-model", args.elmo_model), ("--glove", args.glove),
                        ("--transformer-model", args.transformer_model)):
        if value is not None:
            command += [flag, str(value)]
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return Measurement(mode, tokens, estimate, "failed", distinct,
                           message=f"over --timeout {args.timeout} s")
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or [f"exit status {completed.returncode}"])[-1]
        return Measurement(mode, tokens, estimate, "failed", distinct, message=last)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    speed = result["tokens"] / result["seconds"]
    return Measurement(
        mode, tokens, estimate, "measured", distinct, result["sentences"],
        seconds=round(result["seconds"], 4),
        tokens_per_second=round(speed, 1),
        model_rss_mb=round(result["model_rss_mb"], 1),
        peak_rss_mb=round(result["peak_rss_mb"], 1),
        peak_above_model_mb=round(result["peak_rss_mb"] - result["model_rss_mb"], 1),
        message=None if result["peak_is_embedding_only"] else "peak includes loading the model",
    )


def table_markdown(measurements: list[Measurement]) -> str:
    lines = [
        "| mode | tokens | distinct | seconds | tokens/s | efficiency | peak RSS MB | above model MB "
        "| estimate MB | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def number(value, digits):
        return "" if value is None else f"{value:,.{digits}f}"

    for m in measurements:
        note = "; ".join(filter(None, [
            None if m.pieces is None else f"{m.pieces:,} pieces in {m.windows:,} window(s)", m.message]))
        lines.append(
            f"| {m.mode} | {m.tokens:,} | {number(m.distinct_tokens, 0)} | {number(m.seconds, 3)} | "
            f"{number(m.tokens_per_second, 0)} | {number(m.efficiency, 3)} | {number(m.peak_rss_mb, 0)} | "
            f"{number(m.peak_above_model_mb, 0)} | {m.estimated_mb:,.0f} | {note} |"
        )
    return "\n".join(lines) + "\n"


def plot(measurements: list[Measurement], path: Path, threads: int) -> Path:
    measured = [m for m in measurements if m.status == "measured"]
    modes = list(dict.fromkeys(m.mode for m in measured))

    def series(value):
        return {mode: ([m.tokens for m in measured if m.mode == mode],
                       [value(m) for m in measured if m.mode == mode]) for mode in modes}

    figure = loglog_figure(
        f"Embedding a document of N tokens ({threads} thread{'s' if threads > 1 else ''})",
        [("seconds", series(lambda m: m.seconds)),
         ("peak RSS above the loaded model (MB, floor 1)", series(lambda m: max(m.peak_above_model_mb, 1.0)))],
        "document length (tokens)",
    )
    return save_figure(figure, path)


def _options(args: argparse.Namespace) -> ElmoOptions:
    if args.elmo_options is not None:
        return ElmoOptions.from_file(args.elmo_options)
    from elmo_bench.embedders.elmo.published import published_files

    return ElmoOptions.from_file(published_files(args.elmo_model)[0])


def _refused(mode: str, tokens: int, estimate: float, limit: float, bound: str = "") -> Measurement:
    message = (f"refused: estimated {bound}{estimate:,.0f} MB above the model exceeds "
               f"--max-memory-mb {limit:,.0f}")
    print(f"{mode} at {tokens:,} tokens: {message}", flush=True)
    return Measurement(mode, tokens, round(estimate, 1), "refused", message=message)


def _efficiency(measurement: Measurement, options: ElmoOptions | None, shape: TransformerShape | None,
                matmul: float) -> float | None:
    """The matrix-product work actually done, as a share of the matmul throughput; None for GloVe
    (a table lookup, no matrix products). ELMo: the char-CNN once per distinct token (and the two
    sentence markers), the biLSTM at every position of every sequence, markers included. The
    transformer: every window, overlaps and special tokens included."""
    if measurement.mode == "glove":
        return None
    if measurement.mode == "transformer":
        work = transformer_costs.embedding_flops(shape, *shape.windows(measurement.pieces))
    else:
        sequences = 1 if measurement.mode == "elmo-document" else measurement.sentences
        work = elmo_flops.embedding_flops(options, measurement.tokens, measurement.distinct_tokens, sequences)
    return work / measurement.seconds / matmul


def _load_transformer(args: argparse.Namespace):
    """The transformer embedder, loaded in the parent for its tokenizer (to count pieces) and shape."""
    try:
        return _load_embedder(args, "transformer")
    except ImportError as error:
        raise LongTextError(f"the transformer mode needs `pip install elmo-bench[transformer]`: {error}") from None


def _checked_request(args: argparse.Namespace) -> tuple[list[str], list[int], Path]:
    """The modes, lengths and corpus asked for, checked before anything is loaded."""
    if (args.elmo_options is None) != (args.elmo_weights is None):
        raise LongTextError("give both --elmo-options and --elmo-weights, or neither (--elmo-model)")
    modes = [mode for mode in args.modes.split(",") if mode]
    for mode in modes:
        if mode not in MODES:
            raise LongTextError(f"unknown mode {mode!r}; expected some of {', '.join(MODES)}")
    if "glove" in modes and args.glove is None:
        raise LongTextError("the glove mode needs --glove VECTORS (or leave it out of --modes)")
    try:
        lengths = sorted({int(length) for length in args.lengths.split(",")})
    except ValueError:
        lengths = []
    if not lengths or lengths[0] < 1:
        raise LongTextError(f"--lengths must be positive integers, got {args.lengths!r}")
    corpus = args.corpus or (data_dir() / "corpus" / "wikipedia" if data_dir() else None)
    if corpus is None:
        raise LongTextError("no corpus: give --corpus or set ELMO_BENCH_DATA")
    return modes, lengths, Path(corpus)


def run_benchmark(args: argparse.Namespace) -> dict:
    """Estimate, refuse or measure every (mode, length); returns the JSON summary."""
    modes, lengths, corpus = _checked_request(args)
    options = _options(args) if any(mode.startswith("elmo") for mode in modes) else None
    transformer = _load_transformer(args) if "transformer" in modes else None
    shape = None if transformer is None else TransformerShape.of(transformer)
    limit = args.max_memory_mb
    measurements, planned = [], []
    # Before any text is read, refuse what exceeds the limit even without the terms that need the
    # text (distinct tokens, word pieces): a huge length must not make us tokenize the whole corpus.
    for tokens in lengths:
        for mode in modes:
            lower_bound = estimate_memory_mb(mode, tokens, 0, options, shape)
            if lower_bound > limit:
                measurements.append(_refused(mode, tokens, lower_bound, limit, "at least "))
            else:
                planned.append((mode, tokens))

    torch.set_num_threads(args.threads)
    matmul_before = matmul_flops_per_second(size=1024, repeats=5)
    with tempfile.TemporaryDirectory() as folder:
        text_path = Path(folder) / "text.json"
        if planned:
            sentences = wikipedia_sentences(corpus, max(tokens for _, tokens in planned))
            text_path.write_text(json.dumps(sentences), encoding="utf-8")
            words = [token for sentence in sentences for token in sentence]
        for mode, tokens in planned:
            distinct = len(set(words[:tokens]))
            pieces = (transformer_costs.count_pieces(transformer.tokenizer, words[:tokens])
                      if mode == "transformer" else 0)
            estimate = estimate_memory_mb(mode, tokens, distinct, options, shape, pieces)
            if estimate > limit:
                measurements.append(_refused(mode, tokens, estimate, limit))
                continue
            result = measure(args, mode, tokens, distinct, text_path, round(estimate, 1))
            if mode == "transformer":
                result = replace(result, pieces=pieces, windows=shape.windows(pieces)[0])
            print(f"{mode} at {tokens:,} tokens: {result.status}, {result.seconds} s, "
                  f"peak {result.peak_rss_mb} MB{', ' + result.message if result.message else ''}", flush=True)
            measurements.append(result)
    matmul_after = matmul_flops_per_second(size=1024, repeats=5)
    matmul = (matmul_before + matmul_after) / 2
    measurements = [
        replace(m, efficiency=round(_efficiency(m, options, shape, matmul), 4))
        if m.status == "measured" and m.mode != "glove" else m
        for m in measurements
    ]
    order = {mode: index for index, mode in enumerate(MODES)}
    measurements.sort(key=lambda m: (order[m.mode], m.tokens))
    return {
        "corpus": str(corpus),
        "elmo": None if options is None else str(args.elmo_options or args.elmo_model),
        "elmo_weights": None if args.elmo_weights is None or options is None else str(args.elmo_weights),
        "glove": None if args.glove is None else str(args.glove),
        "transformer": None if transformer is None else str(transformer.model_dir),
        "threads": args.threads,
        "repeats": args.repeats,
        "max_memory_mb": limit,
        "char_cnn_gflops_per_token": None if options is None else round(
            elmo_flops.char_cnn_flops(options) / 1e9, 5),
        "lstm_gflops_per_position": None if options is None else round(elmo_flops.lstm_flops(options) / 1e9, 5),
        "transformer_window": None if shape is None else {
            "pieces": shape.window_pieces, "stride": shape.stride,
            "gflops": round(transformer_costs.embedding_flops(shape, 1, shape.window_pieces) / 1e9, 3)},
        "matmul_gflops": {"before": round(matmul_before / 1e9, 2), "after": round(matmul_after / 1e9, 2)},
        "torch": torch.__version__,
        "platform": platform.platform(),
        "load_average": os.getloadavg(),
        "measurements": [asdict(m) for m in measurements],
    }


def _default_memory_limit_mb() -> float:
    """75% of the memory available now (``MemAvailable`` in /proc/meminfo)."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemAvailable:"):
                return 0.75 * int(line.split()[1]) / 1024
    raise LongTextError("/proc/meminfo has no MemAvailable line; give --max-memory-mb")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--elmo-options", type=Path)
    parser.add_argument("--elmo-weights", type=Path)
    parser.add_argument("--elmo-model", default="small", help="published ELMo when no options/weights (default small)")
    parser.add_argument("--glove", help="GloVe/word2vec text file or published name (the glove mode needs it)")
    parser.add_argument("--transformer-model", type=Path,
                        help="Hugging Face model folder for the transformer mode (default: the installed all-MiniLM-L6-v2)")
    parser.add_argument("--corpus", type=Path, help="default: $ELMO_BENCH_DATA/corpus/wikipedia")
    parser.add_argument("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="runs per cell; the fastest is kept")
    parser.add_argument("--max-memory-mb", type=float, help="refuse cells estimated above this (default: 75%% of available)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per cell")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks/long_text.json"))
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--text", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.max_memory_mb is None and args.worker is None:
        args.max_memory_mb = round(_default_memory_limit_mb())
    return args


def _header(summary: dict) -> str:
    """The markdown table's title and what produced it."""
    models = ", ".join(f"{label} `{summary[key]}`" for label, key in
                       (("ELMo", "elmo"), ("GloVe", "glove"), ("transformer", "transformer")) if summary[key])
    return (f"# Long texts: time and memory by document length\n\n{models}; "
            f"{summary['threads']} thread(s), best of {summary['repeats']}; fp32 matmul "
            f"{summary['matmul_gflops']['before']} / {summary['matmul_gflops']['after']} GFLOP/s "
            "(before / after). Efficiency: matrix-product FLOPs actually done per second as a share of "
            "the mean matmul throughput. Estimate: the memory models of `elmo_bench/embedders/elmo/memory.py` "
            "and `elmo_bench/embedders/transformer_costs.py`, plus the text.\n\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(worker(args)))
        return 0
    try:
        summary = run_benchmark(args)
    except (ValueError, OSError) as error:  # LongTextError, readers naming files, missing files
        print(f"long_text: error: {error}", file=sys.stderr)
        return 2
    measurements = [Measurement(**m) for m in summary["measurements"]]
    text = json.dumps(summary, indent=1) + "\n"
    write_atomically(args.out, lambda path: path.write_text(text, encoding="utf-8"))
    markdown = table_markdown(measurements)
    write_atomically(args.out.with_suffix(".md"),
                     lambda path: path.write_text(_header(summary) + markdown, encoding="utf-8"))
    written = [args.out, args.out.with_suffix(".md")]
    if any(m.status == "measured" for m in measurements):
        written.append(plot(measurements, args.out.with_suffix(".png"), summary["threads"]))
    print(markdown)
    print("wrote " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
