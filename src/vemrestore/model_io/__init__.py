"""Model files in and out: the native checkpoint, the exchange formats and the one door to both.

- ``checkpoint``: the native ``.pt`` file (``Checkpoint``, ``save_checkpoint``,
  ``load_native_checkpoint``, ``describe_restoration``);
- ``formats``: one module per exchange format (bioimage.io, TorchScript, ONNX), each with its
  writer and its reader, on top of ``checkpoint``;
- ``files``: any model file (``load_checkpoint`` by file type, ``as_checkpoint``,
  ``export_model``), on top of both.

Imports go ``files`` → ``formats`` → ``checkpoint`` and never back, so loading and exporting
share no cycle. This package root imports nothing, so ``import vemrestore.model_io.checkpoint``
does not pull in the exporters.
"""
