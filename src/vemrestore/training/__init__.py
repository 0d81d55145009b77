"""The training loop (one for every task), run outputs, and the Python entry points of
training (``training.run``: ``train``, ``resume``, ``train_on_volume``)."""
