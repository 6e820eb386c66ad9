"""The benchmark runner: presets, pretraining stages, the grid of cells and where cells run.

- :mod:`~elmo_bench.runner.presets`: the ``smoke`` / ``standard`` / ``paper`` presets as data, and
  ``--set key.path=value`` overrides.
- :mod:`~elmo_bench.runner.smoke_data`: the tiny data set of the ``smoke`` preset.
- :mod:`~elmo_bench.runner.stages`: GloVe and biLM pretraining, resumable, skipped when done.
- :mod:`~elmo_bench.runner.stage_folders`: where a stage writes (its key, from its settings and
  the content of its inputs) and the record (``stage.json``) of a finished one.
- :mod:`~elmo_bench.runner.stage_processes`: stages under a thread count, as data-parallel ranks,
  or side by side in processes of their own.
- :mod:`~elmo_bench.runner.grid`: cells (task, embedder, seed), result files, skip and redo.
- :mod:`~elmo_bench.runner.identity`: what a cell's scores depend on, digested into its
  fingerprint (settings, sources and data files by sha256).
- :mod:`~elmo_bench.runner.executors`: local, pool and submitit executors.
- :mod:`~elmo_bench.runner.benchmark`: one run, start to end (``elmo-bench bench``).

Workers import only :mod:`~elmo_bench.runner.grid` (and what a cell needs), so this package
imports nothing eagerly.
"""
