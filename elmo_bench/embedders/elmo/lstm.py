"""ELMo's stacked bidirectional LSTM with projection, clipping and residual connections.

Both directions run in one time loop as a batched matrix product over a direction axis. The
backward direction works in a per-sequence reversed time frame (each row reversed within its own
length), so it starts at that row's ``</S>`` and layers never mix directions. Each layer's input
projection is one matrix product over many time steps (in bounded chunks of time); only the
recurrent product stays inside the loop. Rows are sorted by length, so the active batch at step
``t`` is a prefix whose size shrinks as sequences end, and no work is done on padding.

Activations are laid out rows first (``[time, batch, 2, .]``): the active prefix of a step is
then one contiguous block, which the fused element-wise kernel sees with the same strides at every
step (a strided view recompiles it), and the matrix products read both directions through strides.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .options import ElmoOptions

# Positions (rows x steps) whose input projections are precomputed at once: a product of 1,024
# rows already runs at full speed, and the chunk bounds memory on long inputs (128 MB in fp32 for
# the original model). Without autograd they go into one buffer allocated once per layer: a fresh
# buffer per chunk is mapped anew by the allocator, and its page faults cost a quarter of the
# product's time.
PRE_ACTIVATION_POSITIONS = 1024
# Padding (elements) after each row of gates in that buffer. A row of both directions' gates is
# 2 x 4C elements, a power of two, and matrix products whose output rows lie a power of two apart
# map every row to the same cache sets: one cache line more makes them 10-20% faster here.
_GATE_ROW_PAD = 16


def lstm_cell_pointwise(gates: torch.Tensor, memory: torch.Tensor, cell_clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The element-wise part of one LSTM step, in float32 whatever the gates' dtype.

    Args:
        gates: ``[..., 4C]`` pre-activations in the order input, forget, candidate, output, in the
            matrix products' dtype (float32, or bfloat16/float16 for reduced precision).
        memory: ``[..., C]`` previous memory cell, float32.
        cell_clip: clip value of the new memory cell (0: no clipping).

    Returns:
        ``(output_gate * tanh(memory'), memory')``, both ``[..., C]``: the first in the gates'
        dtype (the next matrix product's input), the memory cell in float32. Compiled, the up- and
        down-casts fuse into the one kernel instead of each being a pass over memory.
    """
    dtype, gates = gates.dtype, gates.float()
    cell = memory.shape[-1]
    input_forget = torch.sigmoid(gates[..., : 2 * cell])
    candidate = torch.tanh(gates[..., 2 * cell : 3 * cell])
    output_gate = torch.sigmoid(gates[..., 3 * cell :])
    memory = input_forget[..., :cell] * candidate + input_forget[..., cell:] * memory
    if cell_clip:
        memory = memory.clamp(-cell_clip, cell_clip)
    return (output_gate * torch.tanh(memory)).to(dtype), memory


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
        device, dtype = self.biases[0].device, self.biases[0].dtype
        with torch.inference_mode():
            for rows in (1, 2):  # the loop's layouts: gates in the padded buffer, memory contiguous
                compiled(
                    padded_gates(torch.zeros(rows * gate_row_elements(self.cell_dim), device=device, dtype=dtype), 1, rows, 4 * self.cell_dim)[0],
                    torch.zeros(rows, 2, self.cell_dim, device=device),
                    self.cell_clip,
                )
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
        segment_starts: torch.Tensor | None = None,
    ) -> tuple[list[torch.Tensor], LstmState]:
        """Run every layer in both directions.

        Args:
            inputs: ``[batch, time, P]`` layer-0 inputs (values past a row's length are ignored).
            lengths: int ``[batch]`` real length of each row (at least 1 for rows to run; rows of
                length 0 are not run and keep their initial state).
            initial_state: states ``[L, 2, batch, .]`` to start from; zeros when None.
            segment_starts: bool ``[batch, time]``, True where an independent segment of a row
                begins: both directions run each segment from a zero state, as if it were a row of
                its own. Packing many short sentences into a few long rows this way keeps the batch
                of every step full (continuous batching).

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
        layer_input = torch.stack([forward_inputs, backward_inputs], dim=2).transpose(0, 1).contiguous()  # [T, B, 2, P]
        resets = None
        if segment_starts is not None:
            resets = self._segment_resets(segment_starts.to(inputs.device)[order], sorted_lengths, backward_index)

        if initial_state is None:
            hidden0 = inputs.new_zeros(self.n_layers, 2, batch, self.projection_dim)
            memory0 = inputs.new_zeros(self.n_layers, 2, batch, self.cell_dim)
        else:
            hidden0 = initial_state.hidden.to(inputs.dtype)[:, :, order]
            memory0 = initial_state.memory.to(inputs.dtype)[:, :, order]

        outputs, final_hidden, final_memory = [], [], []
        for layer in range(self.n_layers):
            layer_output, hidden, memory = self._run_layer(layer, layer_input, batch_sizes, hidden0[layer], memory0[layer], resets)
            if layer > 0:
                layer_output = layer_output + layer_input  # residual; zero past each row's length
            outputs.append(layer_output)
            final_hidden.append(hidden)
            final_memory.append(memory)
            layer_input = layer_output

        results = []
        for layer_output in outputs:
            forward_out, backward_out = layer_output.transpose(0, 1).unbind(2)  # [B, T, P] each, sorted rows
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

    @staticmethod
    def _segment_resets(
        starts: torch.Tensor, lengths: torch.Tensor, backward_index: torch.Tensor
    ) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """Where each direction starts a segment, from ``[batch, time]`` starts (rows sorted).

        The backward direction runs each row reversed within its length, so its segments begin at
        the forward segments' last positions (a position before a start, or the row's last).

        Returns:
            for each step with a reset, ``(rows, directions)``: int64 ``[n]`` each.
        """
        positions = torch.arange(starts.shape[1], device=starts.device)[None, :]
        valid = positions < lengths[:, None]
        ends = positions == lengths[:, None] - 1
        ends[:, :-1] |= starts[:, 1:]
        resets = torch.stack([starts & valid, ends.gather(1, backward_index) & valid], dim=2)  # [B, T, 2]
        times, rows, directions = resets.transpose(0, 1).nonzero(as_tuple=True)  # sorted by time
        steps, counts = torch.unique_consecutive(times, return_counts=True)
        return {
            step: (step_rows, step_directions)
            for step, step_rows, step_directions in zip(steps.tolist(), rows.split(counts.tolist()), directions.split(counts.tolist()))
        }

    def _run_layer(
        self,
        layer: int,
        layer_input: torch.Tensor,
        batch_sizes: list[int],
        hidden: torch.Tensor,
        memory: torch.Tensor,
        resets: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One layer, both directions.

        Args:
            layer_input: ``[T, B, 2, P]`` time-major, rows sorted by decreasing length.
            batch_sizes: active rows at each step (non-increasing).
            hidden, memory: initial ``[2, B, P]`` and ``[2, B, C]``.
            resets: ``(rows, directions)`` whose state is zeroed before a step, by step.

        Returns:
            ``(output [T, B, 2, P], final hidden [2, B, P], final memory [2, B, C])``.
        """
        time, batch, _, width = layer_input.shape
        input_weight = self.input_weights[layer].to(layer_input.dtype)
        recurrent_weight = self.recurrent_weights[layer].to(layer_input.dtype)
        projection_weight = self.projection_weights[layer].to(layer_input.dtype)
        bias = self.biases[layer].to(layer_input.dtype)
        C, dtype = self.cell_dim, layer_input.dtype
        # [B, 2, C] with exactly contiguous strides (also for one row, which .contiguous() would
        # leave as it is): the active rows are a prefix, and the fused step sees one layout.
        memory = memory.float().transpose(0, 1).clone(memory_format=torch.contiguous_format)
        chunk_steps = max(1, PRE_ACTIVATION_POSITIONS // batch)
        resets = resets or {}

        # Without autograd, the loop works in place: input projections go into one reused buffer,
        # gates accumulate into them, and outputs go straight into one buffer.
        in_place = not torch.is_grad_enabled()
        buffer = layer_input.new_empty(min(time, chunk_steps) * batch * gate_row_elements(C)) if in_place else None
        output = layer_input.new_zeros(time, batch, 2, self.projection_dim) if in_place else None
        steps, final_hidden, final_memory = [], [], []
        for start in range(0, time, chunk_steps):
            stop = min(time, start + chunk_steps)
            rows = batch_sizes[start]
            pre = self._input_projection(layer_input[start:stop, :rows], input_weight, bias, buffer)
            for t in range(start, stop):
                active = batch_sizes[t]
                if active < hidden.shape[1]:  # rows active..end ended at step t-1
                    final_hidden.append(hidden[:, active:])
                    final_memory.append(memory[active:].transpose(0, 1))
                    hidden, memory = hidden[:, :active], memory[:active]
                if t in resets:  # only the rows that start a segment are touched
                    rows_reset, directions_reset = resets[t]
                    if in_place:
                        hidden[directions_reset, rows_reset] = 0
                        memory[rows_reset, directions_reset] = 0
                    else:
                        hidden = hidden.index_put((directions_reset, rows_reset), hidden.new_zeros(()))
                        memory = memory.index_put((rows_reset, directions_reset), memory.new_zeros(()))
                pre_t = pre[t - start, :active]  # [active, 2, 4C]
                if in_place:
                    pre_t.transpose(0, 1).baddbmm_(hidden, recurrent_weight)
                    gates = pre_t
                else:
                    gates = torch.baddbmm(pre_t.transpose(0, 1), hidden, recurrent_weight).transpose(0, 1)
                # Reduced-precision runs keep the gate arithmetic and the memory cell in float32:
                # only the matrix products run in the low-precision dtype.
                cell_output, memory = self._pointwise(gates, memory, self.cell_clip)
                hidden = torch.bmm(cell_output.transpose(0, 1), projection_weight)  # [2, active, P]
                if self.proj_clip:
                    hidden = hidden.clamp_(-self.proj_clip, self.proj_clip) if in_place else hidden.clamp(-self.proj_clip, self.proj_clip)
                if in_place:
                    output[t, :active] = hidden.transpose(0, 1)
                else:
                    steps.append(F.pad(hidden.transpose(0, 1), (0, 0, 0, 0, 0, batch - active)))
        final_hidden.append(hidden)
        final_memory.append(memory.transpose(0, 1))
        if not in_place:
            output = torch.stack(steps) if steps else layer_input.new_zeros(0, batch, 2, self.projection_dim)
        return output, torch.cat(final_hidden[::-1], dim=1), torch.cat(final_memory[::-1], dim=1).to(dtype)

    @staticmethod
    def _input_projection(
        chunk: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, buffer: torch.Tensor | None
    ) -> torch.Tensor:
        """``bias + inputs @ weight`` for a chunk of steps: ``[steps, rows, 2, P]`` -> ``[steps, rows, 2, 4C]``.

        Written into the front of ``buffer`` in the layout of :func:`padded_gates` when given (no
        autograd), else into a new tensor.
        """
        steps, rows, directions, width = chunk.shape
        inputs = chunk.reshape(steps * rows, directions, width).transpose(0, 1)  # [2, N, P]
        if buffer is None:
            return torch.baddbmm(bias[:, None, :], inputs, weight).view(directions, steps, rows, -1).permute(1, 2, 0, 3)
        out = padded_gates(buffer, steps, rows, weight.shape[-1])
        out.copy_(bias).view(steps * rows, directions, -1).transpose(0, 1).baddbmm_(inputs, weight)
        return out


def gate_row_elements(cell_dim: int) -> int:
    """Elements a position takes in the pre-activation buffer: both directions' gates + padding."""
    return 2 * 4 * cell_dim + _GATE_ROW_PAD


def padded_gates(buffer: torch.Tensor, steps: int, rows: int, gate_dim: int) -> torch.Tensor:
    """A ``[steps, rows, 2, gate_dim]`` view of the front of a flat buffer, rows padded by
    ``_GATE_ROW_PAD`` elements (a step's active rows stay one evenly strided block)."""
    row = gate_row_elements(gate_dim // 4)
    return buffer.as_strided((steps, rows, 2, gate_dim), (rows * row, row, gate_dim, 1))
