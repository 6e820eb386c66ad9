"""The biLSTM as pretraining runs it: rows of one full length, with a hand-written backward pass.

:func:`run_full_length_lstm` computes what the core :class:`~elmo_bench.embedders.elmo.lstm.ElmoLstm`
computes (ELMO_SPEC.md section 5: both directions batched, the input projection of all steps in
one product, cell and projection clipping, residual on layers >= 1) for rows that all have the
full length, and differentiates it faster. A test checks values and gradients against the core.

Why a hand-written backward (:class:`_LstmLayer`): under autograd every time step records about
fifteen nodes, and the backward of each step's recurrent and projection products computes that
step's weight gradient as its own small product (inner dimension = the batch rows, about 100) and
adds it to the running sum. Here the forward loop keeps only the activations, the backward loop
computes only what flows back in time (two batched products and a few element-wise passes a
step, on tensors small enough to stay in cache), and the weight gradients of all steps are
large products at the end (inner dimension = all positions of the batch).
"""
from __future__ import annotations

from typing import Any

import torch

from elmo_bench.embedders.elmo.lstm import ElmoLstm


class _LstmLayer(torch.autograd.Function):
    """One biLSTM layer, both directions, without the residual: inputs in, clipped projected
    states out.

    Gate blocks in the core's order (input, forget, candidate, output). One ``[2, T, B, 4C]``
    buffer holds the input products, then (overwritten step by step) the gate activations, then
    (in the backward loop) the gate gradients, so the layer touches one large buffer instead of
    three. The gradient of a clip is passed where the clipped value is strictly inside the bounds
    (``clamp`` also passes it at a value exactly on a bound; measure zero for real inputs).
    """

    @staticmethod
    def forward(
        ctx: Any,
        inputs: torch.Tensor,
        input_weights: torch.Tensor,
        biases: torch.Tensor,
        recurrent_weights: torch.Tensor,
        projection_weights: torch.Tensor,
        cell_clip: float,
        proj_clip: float,
    ) -> torch.Tensor:
        """``inputs``: ``[2, T, B, P]`` (time-major, direction first); ``input_weights`` and
        ``recurrent_weights``: ``[2, P, 4C]``; ``biases``: ``[2, 4C]``; ``projection_weights``:
        ``[2, C, P]`` -> ``[2, T, B, P]`` hidden states."""
        _, time, batch, width = inputs.shape
        gate_dim = input_weights.shape[-1]
        C, P = gate_dim // 4, projection_weights.shape[-1]
        flat_inputs = inputs.reshape(2, time * batch, width)
        gates_buffer = torch.bmm(flat_inputs, input_weights).view(2, time, batch, gate_dim)
        memory = inputs.new_empty(2, time, batch, C)  # clipped memory cells
        memory_tanh = inputs.new_empty(2, time, batch, C)
        outputs = inputs.new_empty(2, time, batch, C)  # o * tanh(c), before the projection
        hidden = inputs.new_empty(2, time, batch, P)  # clipped projected states
        bias = biases[:, None, :]
        previous_hidden = inputs.new_zeros(2, batch, P)
        previous_memory = inputs.new_zeros(2, batch, C)
        for t in range(time):
            gates = torch.baddbmm(gates_buffer[:, t], previous_hidden, recurrent_weights).add_(bias)
            step = gates_buffer[:, t]  # from here on: the activations of step t
            torch.sigmoid(gates[..., : 2 * C], out=step[..., : 2 * C])
            torch.tanh(gates[..., 2 * C : 3 * C], out=step[..., 2 * C : 3 * C])
            torch.sigmoid(gates[..., 3 * C :], out=step[..., 3 * C :])
            input_gate, forget_gate, candidate, output_gate = step.split(C, dim=-1)
            cell = memory[:, t]
            torch.mul(input_gate, candidate, out=cell)
            cell.addcmul_(forget_gate, previous_memory)
            if cell_clip:
                cell.clamp_(-cell_clip, cell_clip)
            torch.tanh(cell, out=memory_tanh[:, t])
            torch.mul(output_gate, memory_tanh[:, t], out=outputs[:, t])
            projected = torch.bmm(outputs[:, t], projection_weights)
            if proj_clip:
                projected.clamp_(-proj_clip, proj_clip)
            hidden[:, t] = projected
            previous_hidden, previous_memory = projected, cell
        ctx.save_for_backward(
            flat_inputs, gates_buffer, memory, memory_tanh, outputs, hidden,
            input_weights, recurrent_weights, projection_weights,
        )
        ctx.clips = (cell_clip, proj_clip)
        ctx.input_shape = inputs.shape
        return hidden

    @staticmethod
    def backward(ctx: Any, grad_hidden: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (flat_inputs, gates_buffer, memory, memory_tanh, outputs, hidden,
         input_weights, recurrent_weights, projection_weights) = ctx.saved_tensors
        cell_clip, proj_clip = ctx.clips
        _, time, batch, gate_dim = gates_buffer.shape
        C = gate_dim // 4
        # d(loss)/d(unclipped projected states): the incoming part now, the recurrent part added
        # (and masked) step by step below.
        hidden_inside = hidden.abs() < proj_clip if proj_clip else None
        grad_projected = grad_hidden * hidden_inside if proj_clip else grad_hidden.clone()
        memory_inside = memory.abs() < cell_clip if cell_clip else None

        recurrent_t = recurrent_weights.transpose(1, 2)
        projection_t = projection_weights.transpose(1, 2)
        grad_next_hidden = grad_next_memory = None
        for t in range(time - 1, -1, -1):
            # Step t's tensors are small enough to stay in cache while this step works on them.
            # Its activations are overwritten, slot by slot once read, with the gate gradients
            # (sigmoid' = s - s^2, tanh' = 1 - tanh^2).
            step = gates_buffer[:, t]
            input_gate, forget_gate, candidate, output_gate = step.split(C, dim=-1)
            cell_tanh = memory_tanh[:, t]
            step_grad_projected = grad_projected[:, t]
            if grad_next_hidden is not None:
                if proj_clip:
                    grad_next_hidden.mul_(hidden_inside[:, t])
                step_grad_projected.add_(grad_next_hidden)
            grad_output = torch.bmm(step_grad_projected, projection_t)  # d/d(o * tanh(c)), [2, B, C]
            grad_memory = grad_output * output_gate
            grad_memory.addcmul_(grad_memory, cell_tanh * cell_tanh, value=-1.0)
            if grad_next_memory is not None:
                grad_memory.add_(grad_next_memory)
            if cell_clip:
                grad_memory.mul_(memory_inside[:, t])
            output_gate.addcmul_(output_gate, output_gate, value=-1.0).mul_(cell_tanh).mul_(grad_output)
            grad_next_memory = grad_memory * forget_gate
            if t > 0:
                forget_gate.addcmul_(forget_gate, forget_gate, value=-1.0).mul_(memory[:, t - 1]).mul_(grad_memory)
            else:
                forget_gate.zero_()  # the initial memory is zero
            grad_input = grad_memory * candidate
            grad_memory.mul_(input_gate)
            torch.addcmul(grad_memory, grad_memory, candidate * candidate, value=-1.0, out=candidate)
            input_gate.addcmul_(input_gate, input_gate, value=-1.0).mul_(grad_input)
            grad_next_hidden = torch.bmm(step, recurrent_t)
        grad_gates = gates_buffer.view(2, time * batch, gate_dim)  # d(loss)/d(gate pre-activations)

        grads: list[torch.Tensor | None] = [None] * 7
        if ctx.needs_input_grad[0]:
            grads[0] = torch.bmm(grad_gates, input_weights.transpose(1, 2)).view(ctx.input_shape)
        if ctx.needs_input_grad[1]:
            grads[1] = torch.bmm(flat_inputs.transpose(1, 2), grad_gates)
        if ctx.needs_input_grad[2]:
            grads[2] = grad_gates.sum(1)
        if ctx.needs_input_grad[3]:
            grads[3] = torch.bmm(
                hidden[:, :-1].reshape(2, -1, hidden.shape[-1]).transpose(1, 2),
                gates_buffer[:, 1:].reshape(2, -1, gate_dim),
            )
        if ctx.needs_input_grad[4]:
            grads[4] = torch.bmm(
                outputs.reshape(2, -1, C).transpose(1, 2), grad_projected.reshape(2, -1, grad_projected.shape[-1])
            )
        return tuple(grads)


def run_full_length_lstm(lstm: ElmoLstm, inputs: torch.Tensor) -> list[torch.Tensor]:
    """:meth:`ElmoLstm.forward` for rows that all have the full length, fast to differentiate.

    With equal lengths the backward direction is a plain flip of the time axis.

    Args:
        lstm: the biLM's LSTM (its parameters are used as they are).
        inputs: ``[batch, time, P]`` layer-0 inputs, every row ``time`` long.

    Returns:
        ``L`` tensors ``[batch, time, 2P]`` (``[forward; backward]``, residual on layers >= 1).
    """
    layer_input = torch.stack([inputs, inputs.flip(1)]).transpose(1, 2)  # [2, T, B, P], time-major
    outputs = []
    for layer in range(lstm.n_layers):
        layer_output = _LstmLayer.apply(
            layer_input, lstm.input_weights[layer], lstm.biases[layer], lstm.recurrent_weights[layer],
            lstm.projection_weights[layer], lstm.cell_clip, lstm.proj_clip,
        )
        if layer > 0:
            layer_output = layer_output + layer_input  # residual
        outputs.append(layer_output)
        layer_input = layer_output
    results = []
    for layer_output in outputs:
        forward_out, backward_out = layer_output.transpose(1, 2)  # [B, T, P] each
        results.append(torch.cat([forward_out, backward_out.flip(1)], dim=-1))
    return results
