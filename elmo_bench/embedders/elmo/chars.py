"""Tokens to ELMo character ids, exactly as AllenNLP's ``ELMoCharacterMapper`` / ``batch_to_ids``.

Raw ids are UTF-8 bytes 0-255 plus five specials; every id is shifted by +1 so that 0 is free for
padding (ELMO_SPEC.md section 3).
"""
from __future__ import annotations

from functools import lru_cache

import torch

MAX_CHARS = 50
BEGIN_SENTENCE = 256
END_SENTENCE = 257
BEGIN_WORD = 258
END_WORD = 259
CHAR_PAD = 260
# Rows of the char embedding: 261 raw ids shifted by one, plus the zero padding row 0. Fixed by the
# mapping, whatever options.json says in n_characters (261 in bilm-tf training files).
N_CHAR_IDS = 262

BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"


def _marker_ids(char: int) -> tuple[int, ...]:
    ids = [CHAR_PAD] * MAX_CHARS
    ids[0], ids[1], ids[2] = BEGIN_WORD, char, END_WORD
    return tuple(i + 1 for i in ids)


BOS_CHAR_IDS = _marker_ids(BEGIN_SENTENCE)
EOS_CHAR_IDS = _marker_ids(END_SENTENCE)


@lru_cache(maxsize=200_000)
def token_char_ids(token: str) -> tuple[int, ...]:
    """The 50 shifted character ids of one token.

    The token's UTF-8 bytes are cut to 48 (possibly mid-character, as AllenNLP does) and framed by
    begin/end-of-word; the literal tokens ``<S>`` and ``</S>`` map to the sentence markers.
    """
    if token == BOS_TOKEN:
        return BOS_CHAR_IDS
    if token == EOS_TOKEN:
        return EOS_CHAR_IDS
    data = token.encode("utf-8", "ignore")[: MAX_CHARS - 2]
    ids = [CHAR_PAD] * MAX_CHARS
    ids[0] = BEGIN_WORD
    ids[1 : len(data) + 1] = data
    ids[len(data) + 1] = END_WORD
    return tuple(i + 1 for i in ids)


def batch_to_ids(sentences: list[list[str]]) -> torch.Tensor:
    """Character ids of a batch, right-padded with all-zero tokens.

    Args:
        sentences: ``batch`` token lists (an empty list gives an all-zero row).

    Returns:
        int64 tensor ``[batch, max_len, 50]``.
    """
    max_len = max((len(s) for s in sentences), default=0)
    ids = torch.zeros(len(sentences), max_len, MAX_CHARS, dtype=torch.long)
    for row, sentence in enumerate(sentences):
        if sentence:
            ids[row, : len(sentence)] = torch.tensor([token_char_ids(t) for t in sentence])
    return ids
