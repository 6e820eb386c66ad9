"""Download a file once, resumably, and prove that what is on disk is what was downloaded.

``fetch(url, dest)`` streams ``url`` into ``<dest>.part`` next to ``dest``, checks that every
announced byte arrived, checks the sha256 and an optional content check, records the sha256 in a
sidecar file ``<dest>.sha256`` (``sha256sum`` format), and only then renames the file onto
``dest``. So a file at ``dest`` is always complete, and a later call that finds it re-hashes it
against the sidecar, which catches on-disk corruption; a file at ``dest`` without its sidecar
cannot be checked and is an error (unless the caller gives the sha256 to check it against).

A transfer that was cut off is resumed only when it can be proven to continue the same file:
``<dest>.part.json`` records the URL, the server's validator (a strong ``ETag``, else
``Last-Modified``) and the size, and the resume asks for the rest with ``Range`` and
``If-Range: <validator>``, so a server whose file has changed sends the whole new file instead.
Without a recorded validator, or when the answer's validator or size differ, the download starts
again from the first byte: two versions are never spliced.

Hand-written on ``requests`` rather than taken from a library: the download helpers of the libraries
we could use (``torch.hub``, ``huggingface_hub``, ``pooch``) either do not resume, or do not take a
content check, or assume their own cache layout.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import requests
from filelock import FileLock

from elmo_bench.atomic import write_text_atomically
from elmo_bench.errors import ElmoBenchError
from elmo_bench.progress import byte_progress

# Small enough that a dropped connection loses little: requests raises on a short read without
# handing over the partial chunk it was filling.
_CHUNK_BYTES = 64 * 1024
_HASH_BLOCK_BYTES = 1 << 20
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


class DownloadError(ElmoBenchError, RuntimeError):
    """The file could not be downloaded whole: unreachable server, HTTP error, short read, or a
    downloaded file that failed its content check."""


class ChecksumError(ElmoBenchError, ValueError):
    """A file's sha256 is not the expected one (downloaded, or cached and since corrupted)."""


def fetch(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    verify: Callable[[Path], None] | None = None,
    desc: str | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return ``dest``, downloading ``url`` there first if it is not there yet.

    Args:
        url: http(s) address of the file.
        dest: where the file is kept; its folder is created if needed.
        sha256: expected hex digest, if known; checked on the download and on the cached file.
        verify: content check run on a fresh download before it is accepted; it raises to
            reject the file.
        desc: label of the progress bar (default: the file name).
        timeout: seconds to wait for the connection and for each read.

    Raises:
        DownloadError: the server was unreachable, answered with an HTTP error, or sent fewer
            bytes than it announced (the partial ``.part`` file is kept and the next call resumes
            it when the server confirms its file is unchanged), or the downloaded file failed
            ``verify`` (it is deleted).
        ChecksumError: the download does not have the expected sha256 (it is deleted), the
            cached file no longer matches its recorded sha256, or it has no sidecar and no
            ``sha256`` is given.
    """
    dest = Path(dest)
    expected = _normalised_sha256(sha256)
    if dest.exists():
        return _checked_cached_file(dest, expected)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Several processes (e.g. distributed ranks) may ask for the same file at once: one downloads,
    # the others wait and then find the finished file.
    with FileLock(str(dest.with_name(dest.name + ".lock"))):
        if dest.exists():
            return _checked_cached_file(dest, expected)
        part = dest.with_name(dest.name + ".part")
        _download_to_part(url, part, desc or dest.name, timeout)
        found = _sha256_of(part)
        _part_record_path(part).unlink(missing_ok=True)  # part is now complete, kept or deleted
        if expected is not None and found != expected:
            part.unlink()
            raise ChecksumError(
                f"{url}: the downloaded file has sha256 {found}, expected {expected}; "
                "it was deleted (the server or a mirror may hold a different version)"
            )
        if verify is not None:
            try:
                verify(part)
            except Exception as error:
                part.unlink()
                raise DownloadError(
                    f"{url}: the downloaded file failed its content check and was deleted: {error}"
                ) from error
        _write_sidecar(dest, found)
        os.replace(part, dest)
    return dest


def _checked_cached_file(dest: Path, expected: str | None) -> Path:
    """Return ``dest`` after checking it against its sidecar (or, lacking one, against
    ``expected``, then recording its sha256 in a new sidecar).

    Raises:
        ChecksumError: the file differs from its sidecar or from ``expected``, or it has no sidecar
            and no ``expected`` to check it against (a download always writes one)."""
    recorded = _read_sidecar(dest)
    remedy = f"delete {dest} and {_sidecar_path(dest).name} to download it again"
    if recorded is None and expected is None:
        raise ChecksumError(
            f"cached file {dest} has no {_sidecar_path(dest).name}, so it cannot be checked (every "
            f"download writes one); delete {dest} to download it again, or, if you put it there "
            f"yourself, record its sha256: sha256sum {dest.name} > {_sidecar_path(dest).name}"
        )
    found = _sha256_of(dest)
    if recorded is not None and found != recorded:
        raise ChecksumError(
            f"cached file {dest} is corrupted: its sha256 is {found}, but it was {recorded} "
            f"when it was downloaded; {remedy}"
        )
    if expected is not None and found != expected:
        raise ChecksumError(
            f"cached file {dest} has sha256 {found}, expected {expected}; {remedy}"
        )
    if recorded is None:
        _write_sidecar(dest, found)
    return dest


def _download_to_part(url: str, part: Path, desc: str, timeout: float) -> None:
    """Bring ``part`` to the complete content of ``url``, resuming from what it already holds when
    its recorded validator allows (see the module docstring), else from the first byte."""
    try:
        if _try_download(url, part, desc, timeout):
            return
        # What we hold is not the start of the server's current file: start again.
        part.unlink(missing_ok=True)
        if not _try_download(url, part, desc, timeout):
            raise DownloadError(f"could not download {url}: the server refused the whole file")
    except requests.RequestException as error:
        raise DownloadError(
            f"could not download {url}: {error}"
            + (f"; {part} is kept and the next attempt resumes it" if part.exists() else "")
        ) from error
    finally:
        if not part.exists():
            _part_record_path(part).unlink(missing_ok=True)


def _try_download(url: str, part: Path, desc: str, timeout: float) -> bool:
    """Stream ``url`` into ``part``, appending after its current bytes when the server confirms
    (``If-Range`` on the recorded validator, the same size) that they are the start of its file.
    Return False, leaving ``part`` as it was, when the partial file cannot be resumed."""
    offset = part.stat().st_size if part.exists() else 0
    record = _read_part_record(part, url) if offset else None
    # identity: the byte counts must be those of the file, not of a compressed transfer.
    headers = {"Accept-Encoding": "identity"}
    if offset and record is None:
        return False  # no validator: nothing proves these bytes belong to the file there now
    if record is not None:
        if record["total"] == offset:
            return True  # every byte arrived before the process stopped; only the rename is left
        headers["Range"] = f"bytes={offset}-"
        headers["If-Range"] = record["validator"]
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416:
            return False
        if response.status_code >= 400:
            raise DownloadError(
                f"could not download {url}: HTTP {response.status_code} {response.reason}"
            )
        start, total = 0, _content_length(response)
        if response.status_code == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range"))
            if (
                start != offset
                or _validator(response) != record["validator"]
                or total != record["total"]
            ):
                return False
        else:
            # 200: the whole (possibly new) file; record what it is before writing its first byte.
            _write_part_record(part, url, _validator(response), total)
        with part.open("ab" if start else "wb") as out, byte_progress(
            total, start, desc
        ) as progress:
            for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
                out.write(chunk)
                progress.update(len(chunk))
    _check_complete(url, part, total)
    return True


def _validator(response: requests.Response) -> str | None:
    """The response's strong ``ETag``, else its ``Last-Modified``, else None (If-Range accepts
    no weak ETag)."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _part_record_path(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _write_part_record(part: Path, url: str, validator: str | None, total: int | None) -> None:
    """Record which file ``part`` holds the start of (without a validator or a size, none: such a
    partial file is never resumed)."""
    record_path = _part_record_path(part)
    if validator is None or total is None:
        record_path.unlink(missing_ok=True)
        return
    record = {"url": url, "validator": validator, "total": total}
    write_text_atomically(record_path, json.dumps(record))


def _read_part_record(part: Path, url: str) -> dict | None:
    """The record of ``part`` when it is readable and made for ``url``, else None."""
    try:
        record = json.loads(_part_record_path(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("url") != url:
        return None
    if not isinstance(record.get("validator"), str) or not isinstance(record.get("total"), int):
        return None
    return record


def _check_complete(url: str, part: Path, total: int | None) -> None:
    """Raise DownloadError unless ``part`` holds the ``total`` bytes the server announced."""
    size = part.stat().st_size
    if total is None or size == total:
        return
    if size < total:
        raise DownloadError(
            f"could not download {url}: received {size} of {total} bytes; "
            f"{part} is kept and the next attempt resumes it"
        )
    part.unlink()
    raise DownloadError(
        f"could not download {url}: received {size} bytes but the server announced {total}; "
        "the partial file was deleted"
    )


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value is not None and value.isdigit() else None


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(first byte, total size)`` of a ``Content-Range`` header; None for what it does not say."""
    match = _CONTENT_RANGE.fullmatch(value.strip()) if value else None
    if match is None:
        return None, None
    first, total = match.group(1), match.group(2)
    return (int(first) if first else None), (int(total) if total != "*" else None)


def _normalised_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if not _SHA256_HEX.fullmatch(digest):
        raise ValueError(f"sha256 must be 64 hexadecimal digits, got {sha256!r}")
    return digest


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(_HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _sidecar_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".sha256")


def _read_sidecar(dest: Path) -> str | None:
    """The digest recorded next to ``dest``, or None when there is no sidecar."""
    sidecar = _sidecar_path(dest)
    if not sidecar.exists():
        return None
    text = sidecar.read_text(encoding="ascii", errors="replace")
    digest = text.split()[0].lower() if text.split() else ""
    if not _SHA256_HEX.fullmatch(digest):
        raise ChecksumError(
            f"{sidecar} does not start with a sha256 hex digest (found {text[:80]!r}); "
            f"delete it and {dest.name} to download the file again"
        )
    return digest


def _write_sidecar(dest: Path, digest: str) -> None:
    """Write ``<digest>  <name>`` (``sha256sum -c`` format) next to ``dest``, atomically."""
    write_text_atomically(_sidecar_path(dest), f"{digest}  {dest.name}\n")
