"""Command line of exports: ``vemrestore export CKPT --format bioimageio|torchscript|onnx``.

A thin adapter over ``vemrestore.model_io.files.export_model``; the exporter libraries are imported
only when the chosen format needs them (missing ones: one ``error:`` line naming the extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vemrestore.cli.errors import user_errors
from vemrestore.errors import VemRestoreError


def export(
    checkpoint: Annotated[
        Path, typer.Argument(metavar="CKPT", help="vemrestore checkpoint (.pt).")
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="bioimageio, torchscript or onnx.")],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Output file (default: beside CKPT, .zip / .torchscript.pt / .onnx).",
        ),
    ] = None,
    dtype: Annotated[
        str,
        typer.Option(help="Raw data type the model is for: uint8, uint16 or float32."),
    ] = "uint8",
    author: Annotated[
        list[str] | None,
        typer.Option(help="Author credited in a bioimage.io package (repeatable)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace the output if it exists.")] = False,
    trust_model_code: Annotated[
        bool,
        typer.Option(
            "--trust-model-code",
            help="Allow a TorchScript CKPT, which runs code when loaded (trusted files only).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary line.")] = False,
) -> None:
    """Export a checkpoint, checked against the eager model before it is written."""
    from vemrestore.model_io.files import FORMATS, default_output_path, export_model

    with user_errors():
        if format not in FORMATS:
            raise VemRestoreError(f"--format {format}: expected one of {', '.join(FORMATS)}")
        written = export_model(
            checkpoint,
            out or default_output_path(checkpoint, format),
            format,
            overwrite=overwrite,
            input_dtype=dtype,
            authors=author or ("vemrestore user",),
            trust_code=trust_model_code,
        )
    if not quiet:
        typer.echo(f"wrote {written}", err=True)
