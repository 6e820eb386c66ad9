"""``elmo-bench``: one subcommand per job; each lives in its own module under ``commands/``."""
from __future__ import annotations

import argparse
import importlib
import sys

from elmo_bench import __version__

# Subcommand name -> module under elmo_bench.commands exposing ``configure(parser)`` (adds the
# arguments) and ``run(args) -> int``.
COMMANDS = {
    "bench": "Run every task x embedder x seed of a preset (pretraining included); resumable.",
    "list": "List tasks, embedders and presets.",
    "embed": "Embed a text file with ELMo into HDF5 (AllenNLP's `elmo` command layout).",
    "pretrain": "Pretrain a biLM (ELMo's language model) on a corpus; resumable; exports the official format.",
    "task": "Train and score one task cell (task x embedder x seed); write its JSON result.",
    "report": "Tables, plots and paired significance tests from the cell result files.",
    "contexts": "How a word's vectors change with context, layer by layer: sense scores, heat-maps, nearest neighbours in context.",
    "probes": "Layer-wise linear probes (CoNLL-2003 POS, chunks) for each ELMo layer, the mix and GloVe; table and plot.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="elmo-bench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"elmo-bench {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        module = importlib.import_module(f"elmo_bench.commands.{name}")
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError, RuntimeError) as error:
        # Bad input is reported as one clear line, not a traceback.
        print(f"elmo-bench {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
