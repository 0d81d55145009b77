"""Command line of data inspection: ``vemrestore info INPUT`` and ``vemrestore inspect noise
VOLUME``.

A thin adapter: read the volume, call ``vemrestore.api.volume_info`` or
``vemrestore.evaluation.noise``, print and plot.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from vemrestore.cli.errors import user_errors
from vemrestore.errors import VemRestoreError

inspect_app = typer.Typer(help="Inspect volumes before training.", no_args_is_help=True)


@inspect_app.command("noise")
def noise(
    input_path: Annotated[
        Path, typer.Argument(metavar="VOLUME", help="TIFF, .zarr, or slice folder.")
    ],
    plot: Annotated[
        Path | None, typer.Option(help="PNG plot path (default: VOLUME name + _noise.png).")
    ] = None,
    array: Annotated[str | None, typer.Option(help="Array to read inside a Zarr group.")] = None,
    tolerance: Annotated[
        float, typer.Option(help="Relative change of noise, brightness or contrast flagged.")
    ] = 0.25,
    table: Annotated[bool, typer.Option(help="Print the per-slice table.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing plot.")] = False,
) -> None:
    """Is the noise uniform across slices (for self-supervised training)?

    Per-slice noise level, brightness, contrast and scan-line noise correlation, outlier
    slices and drift, as a table and a PNG plot.

    Exit code 0 when uniform, 1 when not (2 for errors).
    """
    from vemrestore.api.analysis import read_sampled
    from vemrestore.evaluation.noise import inspect_noise, plot_noise_report
    from vemrestore.io.atomic import atomic_output, check_output_path

    with user_errors():
        if not 0 < tolerance < math.inf:  # NaN too: it would never flag anything
            raise VemRestoreError(f"--tolerance {tolerance}: must be a finite number > 0")
        plot = plot or Path(f"{input_path.name.split('.')[0]}_noise.png")
        if plot.suffix.lower() != ".png":
            raise VemRestoreError(f"--plot {plot}: the plot is a PNG; name it *.png")
        check_output_path(plot, overwrite, [input_path])
        sampled = read_sampled(input_path, array=array)
        (volume,), sample = sampled.arrays, sampled.sample
        if not sample.whole:
            typer.echo(f"measured on {sample.describe()}")
        try:
            report = inspect_noise(volume, tolerance=tolerance, z=sample.z)
        except ValueError as error:
            raise VemRestoreError(f"{input_path}: {error}") from None
        with atomic_output(plot, overwrite, [input_path]) as temporary:
            plot_noise_report(report, temporary, title=input_path.name)
    if table:
        typer.echo(report.table())
    for line in report.summary():
        typer.echo(line)
    typer.echo(f"plot: {plot}")
    if not report.uniform:
        raise typer.Exit(1)


def info(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="TIFF, .zarr, or slice folder.")
    ],
    array: Annotated[str | None, typer.Option(help="Array to read inside a Zarr group.")] = None,
    allow_gaps: Annotated[
        bool, typer.Option(help="Read a slice folder with gaps or duplicates in its numbering.")
    ] = False,
) -> None:
    """Show shape, dtype, voxel size, chunking and value range of a volume."""
    from vemrestore.api import volume_info

    with user_errors():
        details = volume_info(input_path, array=array, allow_gaps=allow_gaps)
    width = max(len(key) for key in details)
    for key, value in details.items():
        typer.echo(f"{key:<{width}}  {value}")
