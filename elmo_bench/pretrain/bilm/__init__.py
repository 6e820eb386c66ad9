"""Pretraining ELMo's bidirectional language model on a tokenized corpus, in one process or under DDP.

One module per job:

- :mod:`.data`: sentences as id arrays (:class:`~.data.LmCorpus`), what a run trains on
  (:class:`~.data.PretrainingSource`), windows and batches;
- :mod:`.corpus_source`, :mod:`.wikitext`, :mod:`.sources`: a run's data settings and its source
  read from a corpus or a packed corpus (:mod:`elmo_bench.pretrain.packed`), plus WikiText-2;
- :mod:`.model`: the biLM with its adaptive softmax, and the FLOPs of its forward pass;
- :mod:`.evaluation`: forward and backward perplexity;
- :mod:`.optimizer`: Adam (or Adagrad) with warm-up and cosine decay;
- :mod:`.distributed`: a run's place among its data-parallel processes;
- :mod:`.checkpoint`, :mod:`.export`, :mod:`.progress`: what a run saves, exports and logs;
- :mod:`.trainer`: the training loop (:class:`~.trainer.BiLmTrainer`);
- :mod:`.run`: start or resume a run (:func:`~.run.pretrain`) and summarise it.
"""
