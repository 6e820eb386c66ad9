"""Analyses of the embedders themselves (not of task scores): what their vectors encode.

- :mod:`~elmo_bench.analysis.contexts`: how much a word's vector depends on its context, per layer.
- :mod:`~elmo_bench.analysis.neighbours`: nearest words-in-context from a corpus sample.
- :mod:`~elmo_bench.analysis.probes`: tables and plots of the layer-wise linear probes.
- :mod:`~elmo_bench.analysis.figures`: the matplotlib figures they draw (Agg, no display).
"""
