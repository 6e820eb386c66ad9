"""``elmo-bench embed``: a text file (one whitespace-tokenized sentence a line) -> HDF5 of ELMo vectors.

The output keeps the layout of AllenNLP's old ``allennlp elmo`` command, which existing scripts read:
one dataset per input line, named by its 0-based line number (``"0"``, ``"1"``, ...), shaped
``(L + 1, tokens, 2P)`` with every layer or ``(tokens, 2P)`` for one mix, plus ``sentence_to_index``,
a JSON string mapping each sentence text to its dataset name. The file is built as
``OUTPUT.partial`` and renamed when complete; an interrupted run resumes from the partial file.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import h5py
import torch

from elmo_bench.digest import content_digest
from elmo_bench.errors import UsageError
from ..devices import add_device_argument, resolve_device
from ..embedders.elmo.embedder import DEFAULT_MAX_BATCH_TOKENS, DTYPES, ElmoEmbedder
from ..embedders.elmo.options import ElmoOptions
from ..embedders.elmo.published import published_model


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="text file, UTF-8, one whitespace-tokenized sentence a line")
    parser.add_argument("output", type=Path, help="HDF5 file to write")
    source = parser.add_argument_group("model (a published name, or an options + weights pair)")
    source.add_argument("--model", help="published ELMo: small, medium, original, original-5.5B")
    source.add_argument("--options", type=Path, help="options.json")
    source.add_argument("--weights", type=Path, help="weights.hdf5")
    layers = parser.add_mutually_exclusive_group()
    layers.add_argument("--all", dest="layers", action="store_const", const="all", help="all layers (default)")
    layers.add_argument("--top", dest="layers", action="store_const", const="top", help="top biLSTM layer only")
    layers.add_argument("--average", dest="layers", action="store_const", const="average", help="mean of the layers")
    layers.add_argument("--mix", type=float, nargs="+", metavar="W", help="weighted sum of the layers, one weight per layer")
    parser.set_defaults(layers="all")
    parser.add_argument("--dtype", choices=["float32", "float16"], default="float32", help="stored dtype")
    parser.add_argument("--compute-dtype", choices=sorted(DTYPES), default="float32", help="dtype of the matrix products")
    parser.add_argument("--batch-tokens", type=int, default=DEFAULT_MAX_BATCH_TOKENS, help="tokens per biLSTM call (bounds memory)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    add_device_argument(parser, "cpu")
    parser.add_argument("--compile", action="store_true", help="fuse the LSTM step with torch.compile (~30 s once; faster on large inputs)")


def read_sentences(path: Path) -> list[list[str]]:
    """Whitespace-tokenized lines; an empty line is an error naming its line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot read the input as UTF-8 text: {error}") from error
    sentences = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            raise UsageError(f"{path}:{number}: empty line; every line must hold one sentence")
        sentences.append(tokens)
    if not sentences:
        raise UsageError(f"{path}: no sentences to embed")
    return sentences


# Every published model (small, medium, original, original-5.5B) has 2 biLSTM layers.
_PUBLISHED_OUTPUT_LAYERS = 3


def _check_arguments(args: argparse.Namespace) -> None:
    """Check the model arguments and ``--mix`` against the model's layer count, from its options
    alone, before any weights are read or output is written."""
    if args.model and (args.options or args.weights):
        raise UsageError("give either --model or --options/--weights, not both")
    if not args.model and not (args.options and args.weights):
        raise UsageError("give --model NAME, or both --options and --weights")
    if args.model:
        published_model(args.model)  # an unknown name is an error now, with the known ones
        n_layers = _PUBLISHED_OUTPUT_LAYERS
    else:
        n_layers = ElmoOptions.from_file(args.options).n_layers + 1
    if args.mix is not None and len(args.mix) != n_layers:
        raise UsageError(
            f"--mix needs {n_layers} weights (one per layer of the model: the char-CNN layer and "
            f"{n_layers - 1} biLSTM layers), got {len(args.mix)}: {' '.join(map(str, args.mix))}"
        )


def _embedder(args: argparse.Namespace) -> ElmoEmbedder:
    settings = dict(dtype=args.compute_dtype, max_batch_tokens=args.batch_tokens,
                    device=resolve_device(args.device), compile=args.compile)
    if args.model:
        return ElmoEmbedder.from_name(args.model, **settings)
    return ElmoEmbedder.from_files(args.options, args.weights, **settings)


def _select(layers: torch.Tensor, args: argparse.Namespace) -> torch.Tensor:
    """``layers``: ``[L + 1, tokens, dim]`` -> what the user asked to store."""
    if args.mix is not None:
        return torch.einsum("l,ltd->td", torch.tensor(args.mix, dtype=layers.dtype), layers)
    if args.layers == "top":
        return layers[-1]
    if args.layers == "average":
        return layers.mean(0)
    return layers


def _resumable(partial: Path, run_key: str) -> bool:
    try:
        with h5py.File(partial, "r") as handle:
            return handle.attrs.get("run_key") == run_key
    except OSError:
        return False


def run(args: argparse.Namespace) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    sentences = read_sentences(args.input)
    _check_arguments(args)
    embedder = _embedder(args)
    selection = {"layers": args.layers, "mix": args.mix, "dtype": args.dtype}
    run_key = content_digest([embedder.fingerprint, selection, sentences])
    partial = args.output.with_name(args.output.name + ".partial")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if partial.exists() and not _resumable(partial, run_key):
        partial.unlink()  # unreadable, or made from another input, model or selection
    with h5py.File(partial, "a") as handle:
        handle.attrs["run_key"] = run_key
        todo = [i for i in range(len(sentences)) if str(i) not in handle]
        if len(todo) < len(sentences):
            print(f"resuming: {len(sentences) - len(todo)} of {len(sentences)} sentences already embedded")
        pending = [sentences[i] for i in todo]
        for count, (position, layers) in enumerate(embedder.iter_embeddings(pending), start=1):
            handle.create_dataset(str(todo[position]), data=_select(layers, args).numpy().astype(args.dtype))
            if count % 1000 == 0:
                handle.flush()  # what a resumed run can keep
        index = {}
        for number, tokens in enumerate(sentences):
            index.setdefault(" ".join(tokens), str(number))
        if "sentence_to_index" in handle:
            del handle["sentence_to_index"]
        handle.create_dataset("sentence_to_index", data=json.dumps(index))
    os.replace(partial, args.output)
    print(f"wrote {len(sentences)} sentences to {args.output}")
    return 0
