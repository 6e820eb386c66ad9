"""ELMo's stacked bidirectional LSTM with projection, clipping and residual connections.

Both directions run in one time loop as a batched matrix product over a leading direction axis.
The backward direction works in a per-sequence reversed time frame (each row reversed within its
own length), so it starts at that row's ``</S>`` and layers never mix directions. Each layer's input
projection is one matrix product over all time steps (in bounded chunks of time); only the
recurrent product stays inside the loop. Rows are sorted by length, so the active batch at step
``t`` is a prefix whose size shrinks as sequences end, and no work is done on padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .options import ElmoOptions

# Elements of one chunk of precomputed input projections (64 MB in fp32): bounds memory on long
# inputs without costing speed (the chunk is still a large matrix product).
_PRE_ACTIVATION_BUDGET = 16 * 1024 * 1024


def lstm_cell_pointwise(gates: torch.Tensor, memory: torch.Tensor, cell_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The element-wise part of one LSTM step.

    Args:
        gates: ``[..., 4C]`` pre-activations in the order input, forget, candidate, output.
        memory: ``[..., C]`` previous memory cell.
        cell_clip: clip value of the new memory cell (0: no clipping).

    Returns:
        ``(output_gate * tanh(memory'), memory')``, both ``[..., C]``.
    """
    cell = memory.shape[-1]
    input_forget = torch.sigmoid(gates[..., : 2 * cell])
    candidate = torch.tanh(gates[..., 2 * cell : 3 * cell])
    output_gate = torch.sigmoid(gates[..., 3 * cell :])
    memory = input_forget[..., :cell] * candidate + input_forget[..., cell:] * memory
    if cell_clip:
        memory = memory.clamp(-cell_clip, cell_clip)
    return output_gate * torch.tanh(memory), memory


@dataclass
class LstmState:
    """Hidden and cell state of every layer and direction.

    Attributes:
        hidden: ``[n_layers, 2, batch, P]`` projected states (direction 0 forward, 1 backward).
        memory: ``[n_layers, 2, batch, C]`` memory cells.
    """

    hidden: torch.Tensor
    memory: torch.Tensor


class ElmoLstm(nn.Module):
    """``L`` layers of forward and backward LSTM cells with projection (ELMO_SPEC.md section 5).

    Parameters (``x @ W`` layout, gate blocks in the order input, forget, candidate, output):
        ``input_weights[l]``: ``[2, P, 4C]``; ``recurrent_weights[l]``: ``[2, P, 4C]``;
        ``biases[l]``: ``[2, 4C]`` (includes the +1 forget bias); ``projection_weights[l]``:
        ``[2, C, P]``.
    """

    def __init__(self, options: ElmoOptions) -> None:
        super().__init__()
        P, C, L = options.projection_dim, options.cell_dim, options.n_layers
        self.projection_dim, self.cell_dim, self.n_layers = P, C, L
        self.cell_clip, self.proj_clip = options.cell_clip, options.proj_clip
        self.input_weights = nn.ParameterList(nn.Parameter(torch.empty(2, P, 4 * C)) for _ in range(L))
        self.recurrent_weights = nn.ParameterList(nn.Parameter(torch.empty(2, P, 4 * C)) for _ in range(L))
        self.biases = nn.ParameterList(nn.Parameter(torch.zeros(2, 4 * C)) for _ in range(L))
        self.projection_weights = nn.ParameterList(nn.Parameter(torch.empty(2, C, P)) for _ in range(L))
        self._pointwise = lstm_cell_pointwise
        self.reset_parameters()

    def compile_cell(self) -> None:
        """Fuse the element-wise step into one kernel with ``torch.compile``.

        The step's sigmoid/tanh/multiply/clip passes cost about a third of the time of the eager
        loop on a CPU; fused they cost a third of that. Compiling takes about 30 s once per process
        (less with inductor's on-disk cache) and needs a C++ compiler on a CPU; results are equal
        to the eager ones to float rounding. Meant for inference: the kernels are built here, under
        ``torch.inference_mode``, for one row and for many (torch specialises size 1), so that no
        compilation happens in the middle of a timed run.
        """
        compiled = torch.compile(lstm_cell_pointwise, dynamic=True)
        device = self.biases[0].device
        with torch.inference_mode():
            for rows in (1, 2):
                compiled(torch.zeros(2, rows, 4 * self.cell_dim, device=device), torch.zeros(2, rows, self.cell_dim, device=device), self.cell_clip)
        self._pointwise = compiled

    def reset_parameters(self) -> None:
        """Uniform init in +-1/sqrt(C) as torch's LSTM, with forget-gate bias 1."""
        bound = self.cell_dim ** -0.5
        for layer in range(self.n_layers):
            for weight in (self.input_weights[layer], self.recurrent_weights[layer], self.projection_weights[layer]):
                nn.init.uniform_(weight, -bound, bound)
            with torch.no_grad():
                self.biases[layer].zero_()
                self.biases[layer][:, self.cell_dim : 2 * self.cell_dim] = 1.0

    def forward(
        self,
        inputs: torch.Tensor,
        lengths: torch.Tensor,
        initial_state: LstmState | None = None,
    ) -> tuple[list[torch.Tensor], LstmState]:
        """Run every layer in both directions.

        Args:
            inputs: ``[batch, time, P]`` layer-0 inputs (values past a row's length are ignored).
            lengths: int ``[batch]`` real length of each row (at least 1 for rows to run; rows of
                length 0 are not run and keep their initial state).
            initial_state: states ``[L, 2, batch, .]`` to start from; zeros when None.

        Returns:
            ``(outputs, final_state)``: ``outputs`` is a list of ``L`` tensors ``[batch, time, 2P]``
            (``[forward; backward]``, zeros past each row's length; layers >= 1 include the
            residual), and ``final_state`` holds each row's state after its last step (forward:
            after the last real position; backward: after position 0).
        """
        batch, time, _ = inputs.shape
        lengths = lengths.to(device=inputs.device, dtype=torch.long)
        order = torch.argsort(lengths, descending=True, stable=True)
        restore = torch.argsort(order)
        sorted_lengths = lengths[order]
        batch_sizes = (sorted_lengths[None, :] > torch.arange(time, device=inputs.device)[:, None]).sum(1).tolist()

        forward_inputs = inputs[order]
        backward_index = self._reverse_index(sorted_lengths, time)
        backward_inputs = forward_inputs.gather(1, backward_index[..., None].expand_as(forward_inputs))
        layer_input = torch.stack([forward_inputs, backward_inputs]).transpose(1, 2)  # [2, T, B, P]

        if initial_state is None:
            hidden0 = inputs.new_zeros(self.n_layers, 2, batch, self.projection_dim)
            memory0 = inputs.new_zeros(self.n_layers, 2, batch, self.cell_dim)
        else:
            hidden0 = initial_state.hidden.to(inputs.dtype)[:, :, order]
            memory0 = initial_state.memory.to(inputs.dtype)[:, :, order]

        outputs, final_hidden, final_memory = [], [], []
        for layer in range(self.n_layers):
            layer_output, hidden, memory = self._run_layer(layer, layer_input, batch_sizes, hidden0[layer], memory0[layer])
            if layer > 0:
                layer_output = layer_output + layer_input  # residual; zero past each row's length
            outputs.append(layer_output)
            final_hidden.append(hidden)
            final_memory.append(memory)
            layer_input = layer_output

        results = []
        for layer_output in outputs:
            forward_out, backward_out = layer_output.transpose(1, 2)  # [B, T, P] each, sorted rows
            backward_out = backward_out.gather(1, backward_index[..., None].expand_as(backward_out))
            backward_out = backward_out * (torch.arange(time, device=inputs.device)[None, :] < sorted_lengths[:, None])[..., None]
            results.append(torch.cat([forward_out, backward_out], dim=-1)[restore])
        state = LstmState(torch.stack(final_hidden)[:, :, restore], torch.stack(final_memory)[:, :, restore])
        return results, state

    @staticmethod
    def _reverse_index(lengths: torch.Tensor, time: int) -> torch.Tensor:
        """``[batch, time]`` index that reverses each row within its own length (pads map to 0)."""
        steps = torch.arange(time, device=lengths.device)[None, :]
        return (lengths[:, None] - 1 - steps).clamp(min=0)

    def _run_layer(
        self,
        layer: int,
        layer_input: torch.Tensor,
        batch_sizes: list[int],
        hidden: torch.Tensor,
        memory: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One layer, both directions.

        Args:
            layer_input: ``[2, T, B, P]`` time-major, rows sorted by decreasing length.
            batch_sizes: active rows at each step (non-increasing).
            hidden, memory: initial ``[2, B, P]`` and ``[2, B, C]``.

        Returns:
            ``(output [2, T, B, P], final hidden [2, B, P], final memory [2, B, C])``.
        """
        _, time, batch, width = layer_input.shape
        input_weight = self.input_weights[layer].to(layer_input.dtype)
        recurrent_weight = self.recurrent_weights[layer].to(layer_input.dtype)
        projection_weight = self.projection_weights[layer].to(layer_input.dtype)
        bias = self.biases[layer].to(layer_input.dtype)[:, None, :]
        C, dtype = self.cell_dim, layer_input.dtype
        memory = memory.float()
        chunk_steps = max(1, _PRE_ACTIVATION_BUDGET // (2 * batch * 4 * C))

        # Without autograd, the loop works in place: gates accumulate into the precomputed input
        # projections and outputs go straight into one buffer (saves a copy per step).
        in_place = not torch.is_grad_enabled()
        output = layer_input.new_zeros(2, time, batch, self.projection_dim) if in_place else None
        steps, final_hidden, final_memory = [], [], []
        for start in range(0, time, chunk_steps):
            stop = min(time, start + chunk_steps)
            rows = batch_sizes[start]
            chunk_input = layer_input[:, start:stop, :rows].reshape(2, -1, width)
            pre = torch.baddbmm(bias, chunk_input, input_weight).view(2, stop - start, rows, 4 * C)
            for t in range(start, stop):
                active = batch_sizes[t]
                if active < hidden.shape[1]:  # rows active..end ended at step t-1
                    final_hidden.append(hidden[:, active:])
                    final_memory.append(memory[:, active:])
                    hidden, memory = hidden[:, :active], memory[:, :active]
                # Reduced-precision runs keep the gate arithmetic and the memory cell in float32:
                # only the matrix products run in the low-precision dtype.
                pre_t = pre[:, t - start, :active]
                gates = pre_t.baddbmm_(hidden, recurrent_weight) if in_place else torch.baddbmm(pre_t, hidden, recurrent_weight)
                cell_output, memory = self._pointwise(gates.float(), memory, self.cell_clip)
                hidden = torch.bmm(cell_output.to(dtype), projection_weight)
                if self.proj_clip:
                    hidden = hidden.clamp_(-self.proj_clip, self.proj_clip) if in_place else hidden.clamp(-self.proj_clip, self.proj_clip)
                if in_place:
                    output[:, t, :active] = hidden
                else:
                    steps.append(F.pad(hidden, (0, 0, 0, batch - active)))
            # Free this chunk's projections before the next chunk's are computed (64 MB at most).
            del pre, pre_t, gates
        final_hidden.append(hidden)
        final_memory.append(memory)
        if not in_place:
            output = torch.stack(steps, dim=1) if steps else layer_input.new_zeros(2, 0, batch, self.projection_dim)
        return output, torch.cat(final_hidden[::-1], dim=1), torch.cat(final_memory[::-1], dim=1).to(dtype)
