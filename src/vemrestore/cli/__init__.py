"""The ``vemrestore`` command line: one module per command group, all thin adapters over
``vemrestore.api`` and ``vemrestore.training``.

- ``root``: the root command, ``--version``/``--debug``, and where every command is registered;
- ``restore``: ``denoise``, ``watch``;   ``inspect``: ``info``, ``inspect noise``;
- ``train``: ``train supervised|self-supervised``, ``config init``;
- ``analysis``: ``simulate``, ``calibrate``, ``evaluate``, ``plan``;   ``export``: ``export``;
- ``options``: the options every command shares; ``errors``: failures → one line, exit code.
"""

from vemrestore.cli.root import app, command, main

__all__ = ["app", "command", "main"]
