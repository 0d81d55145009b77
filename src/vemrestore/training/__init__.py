"""The training loop (one for every task), run outputs and the training API."""
