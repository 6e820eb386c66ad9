"""Fetch a published file from the first of its addresses that serves it, or fail with one message.

Published files move: Stanford's GloVe archives now live on the Hugging Face Hub first and on
Stanford's site second, and either can be down. :func:`fetch_from_addresses` tries each address in
order with :func:`elmo_bench.download.fetch` (which resumes, checks and records the file) and, when
none works, raises one :class:`UnreachableError` whose single line says what was tried, why each
failed, and the two ways out: a mirror variable, or a copy downloaded by hand and passed as a path.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from elmo_bench.download import ChecksumError, DownloadError, fetch

logger = logging.getLogger(__name__)


class UnreachableError(DownloadError):
    """No address of a published file served it whole (one line: what was tried, and the fixes)."""


class NotThePublishedFileError(ChecksumError):
    """A file found where a published file is kept is not that file."""


@dataclass(frozen=True)
class Remedies:
    """How a user gets a file that could not be downloaded.

    Attributes:
        mirror_variable: the environment variable naming a mirror (e.g. ``ELMO_BENCH_GLOVE_URL``).
        mirror_layout: what the mirror must serve, e.g. ``<base>/glove.840B.300d.zip``.
        by_hand: how to pass a copy downloaded by hand, e.g. ``--set embedder.glove.vectors=PATH``.
    """

    mirror_variable: str
    mirror_layout: str
    by_hand: str

    def text(self) -> str:
        return (
            f"Fix: set {self.mirror_variable} to a mirror serving {self.mirror_layout}, or "
            f"download the file by hand (from an address above) and {self.by_hand}"
        )


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _reason(error: Exception, url: str) -> str:
    """A short reason for one failed address (not the whole chained exception)."""
    cause = error.__cause__
    if isinstance(cause, requests.ConnectionError) and not isinstance(cause, requests.Timeout):
        return "cannot connect (no network, a proxy or firewall, or the host is down)"
    if isinstance(cause, requests.Timeout):
        return "timed out"
    text = str(error)
    prefix = f"could not download {url}: "
    text = text[len(prefix):] if text.startswith(prefix) else text.replace(f"{url}: ", "")
    return text.splitlines()[0] if text else type(error).__name__


def fetch_from_addresses(
    urls: Sequence[str],
    dest: Path,
    *,
    what: str,
    remedies: Remedies,
    sha256: str | None = None,
    verify: Callable[[Path], None] | None = None,
) -> Path:
    """Return ``dest``, downloading it first from the first of ``urls`` that serves it whole.

    A file already at ``dest`` is checked (against its sidecar, ``sha256`` or ``verify``) and no
    address is tried; a wrong one raises :class:`NotThePublishedFileError` saying how to check it.

    Args:
        urls: the addresses, in the order to try them.
        dest: where the file is kept.
        what: how messages name the file, e.g. ``"glove.840B.300d.zip (2.18 GB)"``.
        remedies: the ways out named in the error.
        sha256: the published file's digest, when known.
        verify: a content check (see :func:`elmo_bench.download.fetch`).

    Raises:
        UnreachableError: no address served the file (one line: each address and why it failed,
            then the remedies).
        NotThePublishedFileError: the file at ``dest`` is not the published one.
    """
    dest = Path(dest)
    if dest.exists():
        try:
            return fetch(urls[0], dest, sha256=sha256, verify=verify, desc=dest.name)
        except (ChecksumError, DownloadError) as error:
            if sha256 is not None:
                problem = (f"its sha256 is {_sha256_of(dest)}, the published file's is {sha256} "
                           f"(check with `sha256sum {dest}`)")
            else:
                problem = _reason(error, urls[0])
            raise NotThePublishedFileError(
                f"{dest} is not the published {what}: {problem}. Delete it (and "
                f"{dest.name}.sha256 if present) to download it again, or put the published file "
                "there"
            ) from error
    tried = []
    for url in urls:
        logger.info("downloading %s from %s", what, url)
        try:
            return fetch(url, dest, sha256=sha256, verify=verify, desc=dest.name)
        except (DownloadError, ChecksumError) as error:
            logger.warning("%s: %s", url, _reason(error, url))
            tried.append(f"{url} ({_reason(error, url)})")
    raise UnreachableError(
        f"could not download {what}; tried {'; '.join(tried)}. {remedies.text()}"
    )
