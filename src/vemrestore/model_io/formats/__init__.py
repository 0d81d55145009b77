"""The exchange formats: bioimage.io packages, TorchScript files and ONNX files, each written
from a checkpoint and read back into one.

Every export is checked against the eager model on a stored test tile before it appears
(written to a temporary name, renamed only when the check passes). The exporter libraries
(``onnx``, ``onnxscript``, ``onnxruntime``, ``bioimageio.spec``/``bioimageio.core``) are the
optional ``export`` extra and are imported only when an export needs them.

Entry point: ``vemrestore.model_io.files.export_model``. Exported files load back with
``vemrestore.model_io.files.load_checkpoint``.
"""
