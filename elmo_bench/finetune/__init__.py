"""Adapting ELMo's biLM to a task instead of using it frozen.

- :mod:`~elmo_bench.finetune.lm`: language-model fine-tuning on the task's training text, then frozen.
- :mod:`~elmo_bench.finetune.unfrozen`: the biLM trained along with the head.
- :mod:`~elmo_bench.finetune.adapt`: preparing a compared embedder's parts for one task's cell.
"""
