"""The ``vemrestore`` command: parse, call ``vemrestore.api``, map errors to exit codes.

User mistakes (bad files, paths, options) print one ``error: ...`` line and exit with code 2.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from vemrestore import __version__, api
from vemrestore.cli_analysis import register_analysis_commands
from vemrestore.cli_errors import user_errors
from vemrestore.cli_export import export
from vemrestore.cli_inspect import inspect_app
from vemrestore.cli_train import config_app, train_app
from vemrestore.config import DistributedConfig, InferenceConfig, LiveConfig
from vemrestore.errors import VemRestoreError
from vemrestore.inference_checkerboard import restore_sublattices_file, trained_inference_mode
from vemrestore.live import watch as watch_acquisition
from vemrestore.pretrained import DEFAULT_MODEL

BLOCKS = "Block-wise runs (.zarr output)"
KEY_SLICES = "Key-slice acquisitions"

# Options shared by `denoise` and `watch`.
TileOption = Annotated[
    str | None, typer.Option(help="Tile size Z,Y,X (default: model window,256,256).")
]
OverlapOption = Annotated[
    str | None, typer.Option(help="Tile overlap Z,Y,X (default: window//2,32,32).")
]
BatchOption = Annotated[int, typer.Option(help="Tiles per network call.")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")]
SliceFormatOption = Annotated[
    str, typer.Option(help="Slice file type when OUTPUT is a folder: tif or png.")
]
OverwriteOption = Annotated[bool, typer.Option(help="Replace OUTPUT if it exists.")]

app = typer.Typer(
    help="Fast-Scan, AI-Restore: restore noisy fast-scan volume EM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _triple(option: str, text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) == 1:
        parts = parts * 3
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 3:
        raise VemRestoreError(f"{option} {text}: expected Z,Y,X integers, e.g. 5,256,256")
    return values


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vemrestore {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Fast-Scan, AI-Restore: restore noisy fast-scan volume EM."""
    # Lightning's INFO lines (accelerator summary, tips) are noise to a microscopist;
    # its warnings still show.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


@app.command()
def denoise(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="TIFF, .zarr, or slice folder.")
    ],
    output_path: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help=".tif, .zarr, or a folder name (slices).")
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="vemrestore checkpoint (.pt) or bioimage.io package (default: the shipped "
            "supervised model).",
        ),
    ] = None,
    tile: TileOption = None,
    overlap: OverlapOption = None,
    batch_size: BatchOption = 4,
    device: DeviceOption = "auto",
    float32: Annotated[
        bool, typer.Option("--float32", help="Write float32 instead of the input dtype.")
    ] = False,
    array: Annotated[str | None, typer.Option(help="Array to read inside a Zarr group.")] = None,
    slice_format: SliceFormatOption = "tif",
    overwrite: OverwriteOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    key_slices: Annotated[
        int | None,
        typer.Option(
            help="INPUT is a key-slice acquisition: a slow slice every P slices, passed "
            "through (default: the period a key-slice model was trained with).",
            rich_help_panel=KEY_SLICES,
        ),
    ] = None,
    key_offset: Annotated[
        int,
        typer.Option(help="z of the first key slice.", rich_help_panel=KEY_SLICES),
    ] = 0,
    sublattice: Annotated[
        bool | None,
        typer.Option(
            "--sublattice/--full",
            help="Self-supervised models: restore the four 2x2 sub-lattices at half resolution "
            "and interleave them, or the full-resolution volume (default: the model's mode).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Local worker processes for block-wise runs (default: one per core).",
            rich_help_panel=BLOCKS,
        ),
    ] = None,
    memory_per_worker: Annotated[
        str | None,
        typer.Option(
            help="Memory limit per local worker, e.g. 4GiB (default: an equal share).",
            rich_help_panel=BLOCKS,
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Address of a Dask scheduler to run on, e.g. tcp://host:8786.",
            rich_help_panel=BLOCKS,
        ),
    ] = None,
    block: Annotated[
        str | None,
        typer.Option(
            help="Block size Z,Y,X, rounded up to whole chunks (default: 32,2048,2048).",
            rich_help_panel=BLOCKS,
        ),
    ] = None,
    chunks: Annotated[
        str | None,
        typer.Option(help="Output chunk size Z,Y,X (default: 8,512,512).", rich_help_panel=BLOCKS),
    ] = None,
) -> None:
    """Restore a whole volume, tile by tile, without seams and with bounded memory.

    A .zarr OUTPUT from a Zarr or uncompressed TIFF INPUT is restored in blocks on Dask.
    """
    with user_errors():
        if model is None:
            model = DEFAULT_MODEL
            if not quiet:
                typer.echo(
                    f"no --model given: using the shipped generalist model {model.name}", err=True
                )
        if not quiet:
            noise = api.check_noise(input_path, model, array=array)
            if noise is not None:
                typer.echo(noise.message(), err=True)
        if slice_format not in ("tif", "png"):
            raise VemRestoreError(f"--slice-format {slice_format}: expected tif or png")
        config = InferenceConfig(
            tile=_triple("--tile", tile),
            overlap=_triple("--overlap", overlap),
            batch_size=batch_size,
            device=device,
            output_dtype="float32" if float32 else "same",
        )
        distributed = DistributedConfig(
            workers=workers,
            memory_per_worker=memory_per_worker,
            scheduler=scheduler,
            block=_triple("--block", block),
            chunks=_triple("--chunks", chunks),
        )
        if sublattice or (sublattice is None and trained_inference_mode(model) == "sublattice"):
            if distributed != DistributedConfig():
                raise VemRestoreError("sub-lattice restoration runs in one process (no blocks)")
            written = restore_sublattices_file(
                input_path, output_path, model, config, overwrite, array, f".{slice_format}"
            )
            if not quiet:
                typer.echo(f"wrote {written} (sub-lattice restoration)", err=True)
            return
        period = key_slices or api.key_slice_period(model)
        if period is not None:
            if key_slices is None and not quiet:
                typer.echo(f"key-slice model: restoring with period {period}", err=True)
        elif api.can_restore_in_blocks(input_path, output_path, array):
            _denoise_in_blocks(
                input_path, output_path, model, config, distributed, overwrite, array, quiet
            )
            return
        if distributed != DistributedConfig():
            raise VemRestoreError(
                "--workers, --memory-per-worker, --scheduler, --block and --chunks apply only "
                "to a .zarr OUTPUT from a Zarr or uncompressed TIFF INPUT, without key slices"
            )
        written = api.restore_file(
            input_path,
            output_path,
            model,
            config,
            overwrite=overwrite,
            array=array,
            slice_suffix=f".{slice_format}",
            progress=not quiet,
            key_period=period,
            key_offset=key_offset,
        )
        if not quiet:
            typer.echo(f"wrote {written}", err=True)


def _denoise_in_blocks(
    input_path: Path,
    output_path: Path,
    model: Path,
    config: InferenceConfig,
    distributed: DistributedConfig,
    overwrite: bool,
    array: str | None,
    quiet: bool,
) -> None:
    try:
        summary = api.restore_blocks(
            input_path, output_path, model, config, distributed, overwrite, array, not quiet
        )
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: finished blocks are kept in {output_path}; run the same command "
            "again to resume",
            err=True,
        )
        raise typer.Exit(130) from None
    if not quiet:
        resumed = f" ({summary.skipped} already done)" if summary.skipped else ""
        typer.echo(f"wrote {summary.output}: {summary.total} blocks{resumed}", err=True)


@app.command()
def watch(
    input_dir: Annotated[
        Path, typer.Argument(metavar="IN_DIR", help="Folder the microscope writes slices into.")
    ],
    output_path: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help=".zarr (grows along z) or a folder name.")
    ],
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Checkpoint or bioimage.io package (default: shipped)."),
    ] = None,
    until_idle: Annotated[
        float | None,
        typer.Option(help="End the acquisition after this many seconds without a new slice."),
    ] = None,
    done_file: Annotated[
        str, typer.Option(help="End the acquisition when a file of this name appears in IN_DIR.")
    ] = LiveConfig().done_file,
    settle: Annotated[
        float, typer.Option(help="Seconds a slice file's size must stay unchanged.")
    ] = LiveConfig().settle_seconds,
    tile: TileOption = None,
    overlap: OverlapOption = None,
    batch_size: BatchOption = 4,
    device: DeviceOption = "auto",
    slice_format: SliceFormatOption = "tif",
    overwrite: OverwriteOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress lines.")] = False,
) -> None:
    """Restore slices while the microscope writes them into IN_DIR.

    Each slice is restored once the slices around it have arrived, with exactly the numbers
    `denoise` gives for the finished stack. Ctrl-C, --until-idle or the done file end the
    acquisition: the last slices are restored, then the output is complete. After a crash,
    the same command resumes.
    """
    with user_errors():
        if slice_format not in ("tif", "png"):
            raise VemRestoreError(f"--slice-format {slice_format}: expected tif or png")
        config = InferenceConfig(
            tile=_triple("--tile", tile),
            overlap=_triple("--overlap", overlap),
            batch_size=batch_size,
            device=device,
        )
        live = LiveConfig(settle_seconds=settle, until_idle=until_idle, done_file=done_file or None)
        stop = threading.Event()

        def first_interrupt(signum: int, frame: object) -> None:
            stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)
            if not quiet:
                typer.echo("stopping: restoring the last slices (Ctrl-C again to abort)", err=True)

        def show(z: int, _: object) -> None:
            if not quiet:
                typer.echo(f"restored slice {z}", err=True)

        previous = signal.signal(signal.SIGINT, first_interrupt)
        try:
            run = watch_acquisition(
                input_dir,
                output_path,
                model or DEFAULT_MODEL,
                config,
                live,
                overwrite=overwrite,
                slice_suffix=f".{slice_format}",
                stop=stop,
                on_slice=show,
            )
        except KeyboardInterrupt:
            typer.echo(
                f"interrupted: restored slices are kept in {output_path}; run the same command "
                "again to resume",
                err=True,
            )
            raise typer.Exit(130) from None
        finally:
            signal.signal(signal.SIGINT, previous)
    for path in run.not_arrived:
        typer.echo(f"warning: {path} never became a whole image; not restored", err=True)
    if not quiet:
        resumed = f" ({run.resumed_from} from an earlier run)" if run.resumed_from else ""
        typer.echo(f"wrote {output_path}: {run.slices} slices{resumed}", err=True)


@app.command()
def info(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="TIFF, .zarr, or slice folder.")
    ],
    array: Annotated[str | None, typer.Option(help="Array to read inside a Zarr group.")] = None,
) -> None:
    """Show shape, dtype, voxel size, chunking and value range of a volume."""
    with user_errors():
        details = api.volume_info(input_path, array=array)
    width = max(len(key) for key in details)
    for key, value in details.items():
        typer.echo(f"{key:<{width}}  {value}")


app.add_typer(train_app, name="train")
app.add_typer(config_app, name="config")
app.command("export")(export)
register_analysis_commands(app)
app.add_typer(inspect_app, name="inspect")


def main() -> None:
    """Console-script entry point."""
    app()
