"""Stanford's published GloVe vectors, by name: where they are downloaded from, and how checked.

Addresses, tried in this order (Stanford's GloVe page gives the Hub first and its own site as the
mirror; its old ``/data/`` path, which this code used first, had outages in 2022 and 2024):

1. the Hugging Face Hub repository ``stanfordnlp/glove``, pinned to commit :data:`HUB_REVISION`
   (the commit that added the zip archives), ``https://huggingface.co/stanfordnlp/glove/resolve/
   <revision>/<archive>``;
2. ``https://nlp.stanford.edu/data/wordvecs/<archive>``;
3. ``https://nlp.stanford.edu/data/<archive>``.

``ELMO_BENCH_GLOVE_URL`` replaces them with one mirror: ``<base>/<archive>``.

Each archive has a known sha256 (the digest that several independent projects pin for Stanford's
files, e.g. Keras examples and Embeddings.jl), checked on download, and also on an archive put in
the cache by hand (``<cache>/glove/<archive>``), which is then accepted without a download.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from elmo_bench.addresses import Remedies, fetch_from_addresses
from elmo_bench.paths import cache_dir
from elmo_bench.errors import UsageError

HUB_BASE = "https://huggingface.co"
HUB_REPOSITORY = "stanfordnlp/glove"
HUB_REVISION = "1db2080b2d94def6e5b0386a523102f9d8849e9d"
MIRROR_VARIABLE = "ELMO_BENCH_GLOVE_URL"
STANFORD_BASES = ("https://nlp.stanford.edu/data/wordvecs", "https://nlp.stanford.edu/data")


@dataclass(frozen=True)
class PublishedVectors:
    """One published vector set: a text file inside a zip archive.

    Attributes:
        name: our name (``glove.840B.300d``).
        archive: the archive's file name (``glove.840B.300d.zip``).
        member: the text file inside it.
        sha256: the archive's sha256.
        download_bytes: the archive's size.
        description: corpus, vocabulary and casing, for listings.
    """

    name: str
    archive: str
    member: str
    sha256: str
    download_bytes: int
    description: str

    def urls(self) -> list[str]:
        """The addresses to try, in order (only the mirror when ``ELMO_BENCH_GLOVE_URL`` is set)."""
        mirror = os.environ.get(MIRROR_VARIABLE)
        if mirror:
            return [f"{mirror.rstrip('/')}/{self.archive}"]
        hub = f"{HUB_BASE}/{HUB_REPOSITORY}/resolve/{HUB_REVISION}/{self.archive}"
        return [hub, *(f"{base}/{self.archive}" for base in STANFORD_BASES)]

    @property
    def size_text(self) -> str:
        return f"{self.download_bytes / 1e9:.2f} GB"


_GLOVE_6B_SHA256 = "617afb2fe6cbd085c235baf7a465b96f4112bd7f7ccb2b2cbd649fed9cbcf2fb"
_GLOVE_6B = "Wikipedia 2014 + Gigaword 5 (6B tokens), 400k words, lower-cased"
PUBLISHED_VECTORS: dict[str, PublishedVectors] = {
    **{
        f"glove.6B.{dim}d": PublishedVectors(
            f"glove.6B.{dim}d", "glove.6B.zip", f"glove.6B.{dim}d.txt", _GLOVE_6B_SHA256,
            862_182_613, f"{dim}d; {_GLOVE_6B}",
        )
        for dim in (50, 100, 200, 300)
    },
    "glove.840B.300d": PublishedVectors(
        "glove.840B.300d", "glove.840B.300d.zip", "glove.840B.300d.txt",
        "c06db255e65095393609f19a4cfca20bf3a71e20cc53e892aafa490347e3849f",
        2_180_000_000, "300d; Common Crawl (840B tokens), 2.2M words, cased",
    ),
}
"""The published names. Sizes: the Hub's listing (2.18 GB for 840B, rounded; 6B exact)."""


def published_vectors(name: str) -> PublishedVectors:
    """The published set ``name``; a UsageError naming the closest and every published name."""
    if name not in PUBLISHED_VECTORS:
        close = difflib.get_close_matches(name, PUBLISHED_VECTORS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"unknown vectors {name!r}; {hint}published ones: {', '.join(PUBLISHED_VECTORS)}"
        )
    return PUBLISHED_VECTORS[name]


def fetch_published_vectors(name: str) -> tuple[Path, str]:
    """Download (once) the archive of a published vector set into ``cache_dir()/glove``.

    Returns:
        ``(archive path, member name)``.

    Raises:
        KeyError: an unknown name (the message lists the known ones).
        elmo_bench.addresses.UnreachableError: no address served the archive (one line: the
            addresses tried, why each failed, ``ELMO_BENCH_GLOVE_URL`` and the manual download).
        elmo_bench.addresses.NotThePublishedFileError: the archive in the cache is another file.
    """
    published = published_vectors(name)
    archive = fetch_from_addresses(
        published.urls(),
        cache_dir() / "glove" / published.archive,
        what=f"{published.archive} ({published.size_text}, GloVe {published.name})",
        remedies=Remedies(
            mirror_variable=MIRROR_VARIABLE,
            mirror_layout=f"<base>/{published.archive}",
            by_hand=f"pass it with --set embedder.glove.vectors=PATH (elmo-bench task: --glove "
            f"PATH; the member {published.member} is found in the zip) or put it at "
            f"{cache_dir() / 'glove' / published.archive}",
        ),
        sha256=published.sha256,
    )
    return archive, published.member
