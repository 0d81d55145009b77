"""Export a checkpoint as a bioimage.io package, a TorchScript file or an ONNX file.

Every export is checked against the eager model on a stored test tile before it appears
(written to a temporary name, renamed only when the check passes). The exporter libraries
(``onnx``, ``onnxscript``, ``onnxruntime``, ``bioimageio.spec``/``bioimageio.core``) are the
optional ``export`` extra and are imported only when an export needs them.

Entry point: ``vemrestore.model_files.export_model``. Exported files load back with
``vemrestore.model_files.load_checkpoint``.
"""
