"""Read and write biLM weights in the official bilm-tf / AllenNLP HDF5 layout (ELMO_SPEC.md s2).

The file keeps TensorFlow conventions (``x @ W`` matrices, LSTM gate order i, j, f, o, the forget
bias of 1 added at run time and not stored, a char table without the padding row, a highway gate
on the transform branch). Loading converts to this package's layout; exporting converts back, so
any biLM, including one pretrained here, can be read by AllenNLP or bilm-tf.
"""
from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import torch

from elmo_bench.errors import ElmoBenchError
from ...atomic import write_atomically, write_text_atomically
from .bilm import ElmoBiLm
from .chars import N_CHAR_IDS
from .options import ElmoOptions


class WeightFileError(ElmoBenchError, ValueError):
    """A weights file that does not fit its options (missing dataset, wrong shape, not HDF5)."""


def _lstm_prefix(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def expected_shapes(options: ElmoOptions) -> dict[str, tuple[int, ...]]:
    """Every dataset the options require, with its shape in the file."""
    d, F, P, C = options.char_embedding_dim, options.n_filters, options.projection_dim, options.cell_dim
    shapes: dict[str, tuple[int, ...]] = {"char_embed": (N_CHAR_IDS - 1, d)}
    for i, (width, n_filters) in enumerate(options.filters):
        shapes[f"CNN/W_cnn_{i}"] = (1, width, d, n_filters)
        shapes[f"CNN/b_cnn_{i}"] = (n_filters,)
    for k in range(options.n_highway):
        for part in ("carry", "transform"):
            shapes[f"CNN_high_{k}/W_{part}"] = (F, F)
            shapes[f"CNN_high_{k}/b_{part}"] = (F,)
    shapes["CNN_proj/W_proj"] = (F, P)
    shapes["CNN_proj/b_proj"] = (P,)
    for direction in range(2):
        for layer in range(options.n_layers):
            prefix = _lstm_prefix(direction, layer)
            shapes[f"{prefix}/W_0"] = (2 * P, 4 * C)
            shapes[f"{prefix}/B"] = (4 * C,)
            shapes[f"{prefix}/W_P_0"] = (C, P)
    return shapes


def _read_checked(path: Path, options: ElmoOptions) -> dict[str, np.ndarray]:
    """Read every required dataset, checking presence and shape before anything is used."""
    shapes = expected_shapes(options)
    try:
        handle = h5py.File(path, "r")
    except (OSError, ValueError) as error:
        raise WeightFileError(f"{path}: not a readable HDF5 weights file ({error})") from error
    with handle:
        problems = []
        for name, shape in shapes.items():
            if name not in handle:
                problems.append(f"dataset '{name}' is missing (expected shape {shape})")
            elif tuple(handle[name].shape) != shape:
                problems.append(f"dataset '{name}' has shape {tuple(handle[name].shape)}, expected {shape}")
        in_file = _highway_layers(handle)
        if in_file != options.n_highway:
            problems.append(
                f"the options say n_highway={options.n_highway} but the file has {in_file} highway "
                f"layer(s) (groups CNN_high_0, CNN_high_1, ...); set char_cnn.n_highway to {in_file}"
            )
        if problems:
            raise WeightFileError(f"{path}: weights do not match the options: " + "; ".join(problems))
        try:
            return {name: np.asarray(handle[name][...], dtype=np.float32) for name in shapes}
        except (OSError, ValueError) as error:
            raise WeightFileError(f"{path}: cannot read the weights (truncated or corrupted?): {error}") from error


def _highway_layers(handle: h5py.File) -> int:
    """How many consecutive ``CNN_high_<k>`` groups the file holds from k = 0."""
    count = 0
    while f"CNN_high_{count}" in handle:
        count += 1
    return count


def check_weight_file(options: dict | ElmoOptions, weights_path: str | Path) -> None:
    """Raise :class:`WeightFileError` unless the file holds every dataset the options need, readable."""
    if isinstance(options, dict):
        options = ElmoOptions.from_dict(options)
    _read_checked(Path(weights_path), options)


def _tf_to_ours_gates(matrix: np.ndarray, cell_dim: int) -> np.ndarray:
    """Reorder the last axis' gate blocks from TF (i, j, f, o) to ours (i, f, j, o); self-inverse."""
    i, j, f, o = np.split(matrix, 4, axis=-1)
    return np.concatenate([i, f, j, o], axis=-1)


def load_weights(bilm: ElmoBiLm, weights_path: str | Path) -> None:
    """Fill ``bilm`` from an official HDF5 file; nothing is changed if any check fails."""
    options = bilm.options
    data = _read_checked(Path(weights_path), options)
    P, C = options.projection_dim, options.cell_dim
    encoder = bilm.token_encoder
    params: dict[torch.Tensor, np.ndarray] = {
        encoder.char_embedding.weight: np.concatenate([np.zeros((1, options.char_embedding_dim), np.float32), data["char_embed"]]),
        encoder.projection.weight: data["CNN_proj/W_proj"].T,
        encoder.projection.bias: data["CNN_proj/b_proj"],
    }
    for i, conv in enumerate(encoder.convolutions):
        params[conv.weight] = data[f"CNN/W_cnn_{i}"][0].transpose(2, 1, 0)
        params[conv.bias] = data[f"CNN/b_cnn_{i}"]
    for k, layer in enumerate(encoder.highway.layers):
        params[layer.weight] = np.concatenate([data[f"CNN_high_{k}/W_transform"].T, -data[f"CNN_high_{k}/W_carry"].T])
        params[layer.bias] = np.concatenate([data[f"CNN_high_{k}/b_transform"], -data[f"CNN_high_{k}/b_carry"]])
    lstm = bilm.lstm
    for layer in range(options.n_layers):
        kernels = [data[f"{_lstm_prefix(r, layer)}/W_0"] for r in range(2)]
        biases = []
        for r in range(2):
            bias = data[f"{_lstm_prefix(r, layer)}/B"].copy()
            bias[2 * C : 3 * C] += 1.0  # TF's forget_bias, added at run time and not stored
            biases.append(bias)
        params[lstm.input_weights[layer]] = np.stack([_tf_to_ours_gates(k[:P], C) for k in kernels])
        params[lstm.recurrent_weights[layer]] = np.stack([_tf_to_ours_gates(k[P:], C) for k in kernels])
        params[lstm.biases[layer]] = np.stack([_tf_to_ours_gates(b, C) for b in biases])
        params[lstm.projection_weights[layer]] = np.stack([data[f"{_lstm_prefix(r, layer)}/W_P_0"] for r in range(2)])
    with torch.no_grad():
        for parameter, value in params.items():
            parameter.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(parameter.dtype))


def _export_arrays(bilm: ElmoBiLm) -> dict[str, np.ndarray]:
    options = bilm.options
    C = options.cell_dim

    def array(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().float().cpu().numpy()

    encoder = bilm.token_encoder
    F_ = options.n_filters
    out = {
        "char_embed": array(encoder.char_embedding.weight)[1:],
        "CNN_proj/W_proj": array(encoder.projection.weight).T,
        "CNN_proj/b_proj": array(encoder.projection.bias),
    }
    for i, conv in enumerate(encoder.convolutions):
        out[f"CNN/W_cnn_{i}"] = array(conv.weight).transpose(2, 1, 0)[None]
        out[f"CNN/b_cnn_{i}"] = array(conv.bias)
    for k, layer in enumerate(encoder.highway.layers):
        weight, bias = array(layer.weight), array(layer.bias)
        out[f"CNN_high_{k}/W_transform"] = weight[:F_].T
        out[f"CNN_high_{k}/W_carry"] = -weight[F_:].T
        out[f"CNN_high_{k}/b_transform"] = bias[:F_]
        out[f"CNN_high_{k}/b_carry"] = -bias[F_:]
    lstm = bilm.lstm
    for layer in range(options.n_layers):
        for r in range(2):
            prefix = _lstm_prefix(r, layer)
            kernel = np.concatenate([array(lstm.input_weights[layer][r]), array(lstm.recurrent_weights[layer][r])])
            bias = _tf_to_ours_gates(array(lstm.biases[layer][r]), C)
            bias[2 * C : 3 * C] -= 1.0
            out[f"{prefix}/W_0"] = _tf_to_ours_gates(kernel, C)
            out[f"{prefix}/B"] = bias
            out[f"{prefix}/W_P_0"] = array(lstm.projection_weights[layer][r])
    return out


def save_weights(bilm: ElmoBiLm, weights_path: str | Path) -> None:
    """Write ``bilm`` as an official HDF5 weights file (atomically)."""
    def write(temporary: Path) -> None:
        with h5py.File(temporary, "w") as handle:
            for name, value in _export_arrays(bilm).items():
                handle.create_dataset(name, data=np.ascontiguousarray(value, dtype=np.float32))

    write_atomically(weights_path, write)


def export_bilm(bilm: ElmoBiLm, options_path: str | Path, weights_path: str | Path) -> None:
    """Write ``options.json`` and ``weights.hdf5`` that AllenNLP, bilm-tf and :func:`load_bilm` read."""
    write_text_atomically(options_path, json.dumps(bilm.options.to_dict(), indent=2))
    save_weights(bilm, weights_path)


def load_bilm(options_path: str | Path, weights_path: str | Path, stateful: bool = False) -> ElmoBiLm:
    """Build a frozen, eval-mode biLM from an official options + weights pair."""
    bilm = ElmoBiLm(ElmoOptions.from_file(options_path), stateful=stateful)
    load_weights(bilm, weights_path)
    bilm.requires_grad_(False)
    return bilm.eval()
