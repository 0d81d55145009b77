"""The napari plugin (``pip install 'vemrestore[napari]'``): dock widgets Restore (with a Live
mode following an acquisition folder), Train self-supervised, Inspect noise and Evaluate, and
the demo pair as sample data. Declared in ``napari.yaml`` (npe2).

The widgets are thin: they gather options and call ``vemrestore.api`` (and the training and
evaluation entry points) in worker threads, so they give what the Python API and the CLI give.
"""
