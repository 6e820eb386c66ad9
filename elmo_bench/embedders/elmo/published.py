"""The ELMo models AllenNLP published, by name, downloaded and checked on first use.

AllenNLP publishes no checksums for these files, so a download counts as whole when every byte
announced by the server arrived and the weights open as HDF5 with every dataset the options call
for; the sha256 of that first good download is then recorded next to each file, so that later loads
catch on-disk corruption (see ``elmo_bench.download.fetch``).

Set ``ELMO_BENCH_ELMO_URL`` to fetch from a mirror laid out like AllenNLP's bucket
(``<base>/<dir>/<stem>_options.json`` and ``<base>/<dir>/<stem>_weights.hdf5``).
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from elmo_bench.addresses import Remedies, fetch_from_addresses
from elmo_bench.embedders.elmo.options import ElmoOptions
from elmo_bench.embedders.elmo.weights import check_weight_file
from elmo_bench.errors import UsageError
from elmo_bench.paths import cache_dir

DEFAULT_BASE_URL = "https://allennlp.s3.amazonaws.com/models/elmo"
BASE_URL_VARIABLE = "ELMO_BENCH_ELMO_URL"


@dataclass(frozen=True)
class PublishedElmo:
    """One published biLM.

    Attributes:
        name: our short name (``small``, ``medium``, ``original``, ``original-5.5B``).
        dir: its folder under the base URL.
        stem: the common prefix of its two file names.
        description: size and training corpus, for listings.
        output_dim: size of each ELMo layer's vectors (2 x the LSTM projection size).
        parameters_millions: parameter count of the weights file, from allennlp.org/elmo.
    """

    name: str
    dir: str
    stem: str
    description: str
    output_dim: int
    parameters_millions: float

    @property
    def approx_weights_mb(self) -> int:
        """Approximate size of the weights file in MB: the HDF5 holds float32 parameters."""
        return round(self.parameters_millions * 4)

    def options_url(self) -> str:
        return f"{_base_url()}/{self.dir}/{self.stem}_options.json"

    def weights_url(self) -> str:
        return f"{_base_url()}/{self.dir}/{self.stem}_weights.hdf5"


def _published(name: str, folder: str, description: str, output_dim: int,
               millions: float) -> PublishedElmo:
    return PublishedElmo(name, folder, f"elmo_{folder}", description, output_dim, millions)


_ONE_BILLION_WORDS = "trained on the 1B Word Benchmark (about 800M tokens)"
PUBLISHED: dict[str, PublishedElmo] = {
    model.name: model
    for model in (
        _published("small", "2x1024_128_2048cnn_1xhighway",
                   f"LSTM 1024 cells projected to 128, 1 highway layer; {_ONE_BILLION_WORDS}",
                   256, 13.6),
        _published("medium", "2x2048_256_2048cnn_1xhighway",
                   f"LSTM 2048 cells projected to 256, 1 highway layer; {_ONE_BILLION_WORDS}",
                   512, 28.0),
        _published("original", "2x4096_512_2048cnn_2xhighway",
                   f"LSTM 4096 cells projected to 512, 2 highway layers; {_ONE_BILLION_WORDS}",
                   1024, 93.6),
        _published("original-5.5B", "2x4096_512_2048cnn_2xhighway_5.5B",
                   "the original architecture trained on 5.5B tokens "
                   "(Wikipedia 1.9B and WMT 2008-2012 news crawl 3.6B)",
                   1024, 93.6),
    )
}


def published_model(name: str) -> PublishedElmo:
    """The published model called ``name``; ValueError with the closest names if there is none."""
    model = PUBLISHED.get(name)
    if model is None:
        close = difflib.get_close_matches(name, PUBLISHED, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UsageError(
            f"unknown published ELMo model {name!r}; {hint}"
            f"the published models are: {', '.join(PUBLISHED)}"
        )
    return model


def published_files(name: str, cache: Path | None = None) -> tuple[Path, Path]:
    """``(options_path, weights_path)`` of the published model ``name``, downloaded on first use.

    The files are kept under ``<cache>/elmo/<name>/`` (``cache`` defaults to
    ``elmo_bench.paths.cache_dir()``) with their original names. The options file must be a valid
    ELMo ``options.json``; the weights file must hold every dataset those options call for.

    Raises:
        ValueError: ``name`` is not a published model.
        elmo_bench.addresses.UnreachableError: a file could not be downloaded whole, or failed its
            check (nothing is left at its cache path); one line naming the address, why, and the
            remedies (``ELMO_BENCH_ELMO_URL``, or files downloaded by hand and passed as paths).
        elmo_bench.addresses.NotThePublishedFileError: a cached file changed since it was
            downloaded, or a file put there by hand is not a valid ELMo file.
    """
    model = published_model(name)
    folder = (Path(cache) if cache is not None else cache_dir()) / "elmo" / model.name
    remedies = Remedies(
        mirror_variable=BASE_URL_VARIABLE,
        mirror_layout=f"<base>/{model.dir}/{model.stem}_options.json and _weights.hdf5",
        by_hand="pass both files with --set embedder.elmo.options=PATH --set "
        "embedder.elmo.weights=PATH (elmo-bench task: --elmo-options, --elmo-weights)",
    )
    options_path = fetch_from_addresses(
        [model.options_url()], folder / f"{model.stem}_options.json",
        what=f"the options of ELMo {model.name}", remedies=remedies, verify=ElmoOptions.from_file,
    )
    options = ElmoOptions.from_file(options_path)
    weights_path = fetch_from_addresses(
        [model.weights_url()], folder / f"{model.stem}_weights.hdf5",
        what=f"the weights of ELMo {model.name} (about {model.approx_weights_mb} MB)",
        remedies=remedies, verify=lambda path: check_weight_file(options, path),
    )
    return options_path, weights_path


def _base_url() -> str:
    return (os.environ.get(BASE_URL_VARIABLE) or DEFAULT_BASE_URL).rstrip("/")
