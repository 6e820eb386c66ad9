"""Conversion between BIO tagging schemes (tags ``O``, ``B-TYPE``, ``I-TYPE``).

A few lines written here: seqeval scores tag sequences but does not convert between schemes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

IOB_TAG = re.compile(r"O|[BI]-\S+")
"""A tag of either scheme: ``O``, or ``B-``/``I-`` and a type (match with ``fullmatch``)."""


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Convert IOB1 tags to IOB2: an ``I-X`` that does not continue an ``X`` entity becomes ``B-X``.

    In IOB1 (CoNLL-2003's files) ``I-`` starts an entity and ``B-`` appears only between two
    touching entities of the same type; in IOB2 every entity starts with ``B-``.

    >>> iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']

    Valid IOB2 comes back unchanged. On any other sequence this reads entities as conlleval does
    (an ``I-X`` after ``O`` or after another type starts an entity).
    """
    converted = []
    previous_type = None
    for tag in tags:
        entity_type = None if tag == "O" else tag[2:]
        if tag.startswith("I-") and entity_type != previous_type:
            tag = f"B-{entity_type}"
        converted.append(tag)
        previous_type = entity_type
    return converted
