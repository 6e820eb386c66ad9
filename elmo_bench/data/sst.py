"""Stanford Sentiment Treebank: PTB-style trees, one per line, every node labelled 0-4.

``(3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (4 (3 lovely) (2 film))) ...``: a node is ``(label word)`` or
``(label child child ...)``. Labels: 0 very negative, 1 negative, 2 neutral, 3 positive,
4 very positive. SST-5 uses them as they are; SST-2 drops 2 and maps 0-1 to 0 and 3-4 to 1, which
gives exactly 6,920 / 872 / 1,821 sentences.

Tokens are shown to embedders as raw text, not PTB escapes: ELMo's biLM was trained on raw text
(1B Word Benchmark: ``(``, ``"``), and CoNLL-2003 is raw too, so by default ``-LRB-`` becomes ``(``
(likewise ``-RRB- -LSB- -RSB- -LCB- -RCB-``), the PTB quotes ````` and ``''`` become ``"``, a lone
````` becomes ``'``, and the backslash escapes ``\\/`` and ``\\*`` lose their backslash. Case is
kept. ``unescape_ptb=False`` keeps the file's tokens (what AllenNLP's SST reader gives).

Words are separated by ASCII spaces only: one word in the files holds a non-breaking space
(``2\\xa01\\/2``), which ``str.split()`` would cut in two.

Phrase level (``phrases=True``): every labelled node gives an example (its words and label), the
sentence first, then its phrases in tree order. A phrase that occurs again within the split
(the same words, in any sentence) is kept once, at its first occurrence; SST labels phrases, not
occurrences, so repeats carry the same label and keeping them would only weight frequent phrases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from elmo_bench.data.errors import DataFormatError
from elmo_bench.data.lines import numbered_lines
from elmo_bench.data.sources import split_file
from elmo_bench.errors import UsageError
from elmo_bench.paths import DataFolders

_TREE_TOKEN = re.compile(r"\(|\)|[^ ()]+")
_LABELS = {"0": 0, "1": 1, "2": 2, "3": 3, "4": 4}
_PTB_TOKENS = {
    "-LRB-": "(",
    "-RRB-": ")",
    "-LSB-": "[",
    "-RSB-": "]",
    "-LCB-": "{",
    "-RCB-": "}",
    "``": '"',
    "''": '"',
    "`": "'",
}
_SST2_LABELS = {0: 0, 1: 0, 3: 1, 4: 1}
"""SST-5 label -> SST-2 label; neutral (2) has no SST-2 label."""


@dataclass(frozen=True)
class SentimentExample:
    """A sentence (or phrase) and its label: 0-4 for SST-5, 0 negative / 1 positive for SST-2."""

    tokens: tuple[str, ...]
    label: int


@dataclass(frozen=True)
class SentimentTree:
    """A parsed tree: its words and, for each node in pre-order, ``(start, end, label)``.

    Node ``(start, end, label)`` covers ``words[start:end]``; the first node is the root.
    """

    words: tuple[str, ...]
    nodes: tuple[tuple[int, int, int], ...]


def unescape_ptb_token(token: str) -> str:
    """The raw-text form of a PTB-escaped token (``-LRB-`` -> ``(``, ``\\/`` -> ``/``, ...)."""
    if token in _PTB_TOKENS:
        return _PTB_TOKENS[token]
    return token.replace("\\/", "/").replace("\\*", "*")


def parse_tree(text: str, path: Path, line_number: int) -> SentimentTree:
    """Parse one SST tree; ``path`` and ``line_number`` only go into error messages.

    Raises:
        DataFormatError: unbalanced brackets, a label other than 0-4, a node with no word and no
            children or with both, or text after the tree.
    """

    # Hand-written rather than nltk's Tree.fromstring: nltk is not a dependency, it splits words
    # at any whitespace (cutting the word with a non-breaking space), and it checks no labels.
    def fail(column: int, problem: str) -> DataFormatError:
        return DataFormatError(path, line_number, f"column {column}: {problem}")

    words: list[str] = []
    nodes: list[list[int]] = []  # [start, end, label]; end is filled in when the node closes
    open_nodes: list[tuple[int, bool]] = []  # (index into nodes, has child nodes)
    awaiting_label = False
    for match in _TREE_TOKEN.finditer(text):
        token, column = match.group(), match.start() + 1
        if awaiting_label:
            if token not in _LABELS:
                raise fail(column, f"expected a label 0-4 after '(', got {token!r}")
            nodes[open_nodes[-1][0]][2] = _LABELS[token]
            awaiting_label = False
        elif token == "(":
            if nodes and not open_nodes:
                raise fail(column, "text after the end of the tree")
            if open_nodes:
                parent, _ = open_nodes[-1]
                if nodes[parent][1] != -1:
                    raise fail(column, "a node holds both a word and subtrees")
                open_nodes[-1] = (parent, True)
            open_nodes.append((len(nodes), False))
            nodes.append([len(words), -1, -1])
            awaiting_label = True
        elif token == ")":
            if not open_nodes:
                raise fail(column, "')' without a matching '('")
            node, has_children = open_nodes.pop()
            if has_children:
                nodes[node][1] = len(words)
            elif nodes[node][1] == -1:
                raise fail(column, "a node with neither a word nor subtrees")
        else:
            if not open_nodes:
                raise fail(column, f"word {token!r} outside brackets")
            node, has_children = open_nodes[-1]
            if has_children:
                raise fail(column, f"word {token!r} next to subtrees in the same node")
            if nodes[node][1] != -1:
                raise fail(column, f"second word {token!r} in one node")
            words.append(token)
            nodes[node][1] = len(words)
    if awaiting_label:
        raise fail(len(text) + 1, "the line ends after '('")
    if open_nodes:
        raise fail(len(text) + 1, f"{len(open_nodes)} unclosed '('")
    if not nodes:
        raise fail(1, "expected a tree '(label ...)'")
    return SentimentTree(words=tuple(words), nodes=tuple(tuple(node) for node in nodes))


def parse_sst_trees(path: Path) -> list[SentimentTree]:
    """All trees of an SST file (UTF-8, one tree a line; blank lines are skipped)."""
    trees = [
        parse_tree(line, path, line_number)
        for line_number, line in numbered_lines(path, "utf-8")
        if line.strip()
    ]
    if not trees:
        raise DataFormatError(path, None, "no trees found")
    return trees


def sentiment_examples(
    trees: list[SentimentTree],
    *,
    classes: int = 5,
    phrases: bool = False,
    unescape_ptb: bool = True,
) -> list[SentimentExample]:
    """Examples from parsed trees; see :func:`read_sst` for the arguments."""
    if classes not in (2, 5):
        raise UsageError(f"classes must be 5 (SST-5) or 2 (SST-2), got {classes!r}")
    examples = []
    seen_phrases: set[tuple[str, ...]] = set()
    for tree in trees:
        words = (
            tuple(unescape_ptb_token(word) for word in tree.words) if unescape_ptb else tree.words
        )
        for start, end, label in tree.nodes if phrases else tree.nodes[:1]:
            if classes == 2:
                if label not in _SST2_LABELS:
                    continue
                label = _SST2_LABELS[label]
            tokens = words[start:end]
            if phrases:
                if tokens in seen_phrases:
                    continue
                seen_phrases.add(tokens)
            examples.append(SentimentExample(tokens=tokens, label=label))
    return examples


def read_sst(
    split: str,
    folders: DataFolders,
    *,
    classes: int = 5,
    phrases: bool = False,
    unescape_ptb: bool = True,
) -> list[SentimentExample]:
    """SST ``"train"``, ``"dev"`` or ``"test"`` examples from the PTB trees.

    Args:
        split: ``"train"`` (8,544 trees), ``"dev"`` (1,101) or ``"test"`` (2,210).
        folders: where the trees are read from.
        classes: 5 for SST-5 labels 0-4; 2 for SST-2 (neutral dropped, 0 negative, 1 positive).
        phrases: also return every labelled phrase, each distinct phrase once (see module doc).
        unescape_ptb: show tokens as raw text (``(`` rather than ``-LRB-``; see module doc).
    """
    path = split_file("sst", split, folders).path
    examples = sentiment_examples(
        parse_sst_trees(path), classes=classes, phrases=phrases, unescape_ptb=unescape_ptb
    )
    if not examples:
        raise DataFormatError(path, None, f"no examples with {classes} classes")
    return examples
