"""Catculator: the small package every notebook of the series imports.

One file per concern:
    data.py      vocabulary, encode/decode, vectorised dataset builders, splits, batching
    model.py     ModelConfig, parameter pytree, init, forward (raw jax.numpy)
    train.py     losses, optimizers, the scan-compiled training loop, History
    evaluate.py  exact-answer accuracy, batched greedy decoding, sample tables
    plots.py     the figures the notebooks save
    runtime.py   the setup line, quick/full mode, where figures go
"""
