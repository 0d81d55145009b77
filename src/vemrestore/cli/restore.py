"""``vemrestore denoise`` and ``vemrestore watch``: restore a volume, or slices while the
microscope writes them. Which restoration a model needs is the API's decision
(``api.plan_file``); these commands parse, ask it, call the API and report.
"""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from vemrestore import api
from vemrestore.api.live import watch as watch_acquisition
from vemrestore.cli.errors import user_errors
from vemrestore.cli.options import (
    Output,
    Overwrite,
    Quiet,
    Threads,
    one_output,
)
from vemrestore.config import DistributedConfig, InferenceConfig, LiveConfig
from vemrestore.errors import VemRestoreError
from vemrestore.model_io.checkpoint import Checkpoint
from vemrestore.model_io.files import as_checkpoint
from vemrestore.pretrained import DEFAULT_MODEL
from vemrestore.threads import set_threads

BLOCKS = "Block-wise runs (.zarr output)"
KEY_SLICES = "Key-slice acquisitions"
GPU = "GPU"

# Options shared by `denoise` and `watch`.
TileOption = Annotated[
    str | None, typer.Option(help="Tile size Z,Y,X (default: model window, ≤512,≤512 fitted).")
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


def _voxel_size(text: str | None) -> tuple[float, float, float] | None:
    """``--voxel-size Z,Y,X`` in nm (one number: isotropic), each finite and > 0."""
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in (parts * 3 if len(parts) == 1 else parts))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) and v > 0 for v in values):
        raise VemRestoreError(f"--voxel-size {text}: expected Z,Y,X in nm, e.g. 30,5,5")
    return values


def _check_slice_format(slice_format: str) -> None:
    if slice_format not in ("tif", "png"):
        raise VemRestoreError(f"--slice-format {slice_format}: expected tif or png")


def _inference_config(tile: str | None, overlap: str | None, **settings: Any) -> InferenceConfig:
    """``--tile``/``--overlap`` text parsed; the other settings passed to ``InferenceConfig``
    (which rejects unknown ones)."""
    return InferenceConfig(
        tile=_triple("--tile", tile), overlap=_triple("--overlap", overlap), **settings
    )


def denoise(
    input_path: Annotated[
        Path, typer.Argument(metavar="INPUT", help="TIFF, .zarr, or slice folder.")
    ],
    output_path: Annotated[
        Path | None,
        typer.Argument(
            metavar="OUTPUT", help=".tif, .zarr, or a folder name (slices); or give -o OUTPUT."
        ),
    ] = None,
    output: Output = None,
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            "-m",
            help="vemrestore checkpoint (.pt) or bioimage.io package (default: the shipped "
            "supervised model).",
        ),
    ] = None,
    trust_model_code: Annotated[
        bool,
        typer.Option(
            "--trust-model-code",
            help="Allow a TorchScript model, which runs code when loaded (trusted files only).",
        ),
    ] = False,
    tile: Annotated[
        str | None, typer.Option(help="Tile size Z,Y,X (default: model window, ≤512,≤512 fitted).")
    ] = None,
    overlap: Annotated[
        str | None, typer.Option(help="Tile overlap Z,Y,X (default: window//2,32,32).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Tiles per network call (default: 4 on CPU, what fits on a GPU)."),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    amp_dtype: Annotated[
        str,
        typer.Option(help="GPU mixed precision: float16 or bfloat16.", rich_help_panel=GPU),
    ] = "float16",
    channels_last: Annotated[
        bool | None,
        typer.Option(
            "--channels-last/--no-channels-last",
            help="Pixel-major activations (default: on for CPU, off on a GPU).",
            rich_help_panel=GPU,
        ),
    ] = None,
    torch_compile: Annotated[
        bool,
        typer.Option("--compile", help="Compile the network (slow start).", rich_help_panel=GPU),
    ] = False,
    float32: Annotated[
        bool, typer.Option("--float32", help="Write float32 instead of the input dtype.")
    ] = False,
    array: Annotated[str | None, typer.Option(help="Array to read inside a Zarr group.")] = None,
    allow_gaps: Annotated[
        bool, typer.Option(help="Read a slice folder with gaps or duplicates in its numbering.")
    ] = False,
    slice_format: Annotated[
        str, typer.Option(help="Slice file type when OUTPUT is a folder: tif or png.")
    ] = "tif",
    voxel_size: Annotated[
        str | None,
        typer.Option(
            metavar="Z,Y,X",
            help="Voxel size in nm written to OUTPUT (default: the input's; unknown stays "
            "unknown).",
        ),
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    threads: Threads = None,
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
    stall_timeout: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Stop (resumably) when no block finishes for this long (default: 3600).",
            rich_help_panel=BLOCKS,
        ),
    ] = None,
) -> None:
    """Restore a whole volume, tile by tile, without seams and with bounded memory.

    A .zarr OUTPUT from a Zarr or uncompressed TIFF INPUT is restored in blocks on Dask.
    """
    with user_errors():
        output_path = one_output(output, output_path)
        set_threads(threads)
        if model is None:
            model = DEFAULT_MODEL
        trust = trust_model_code
        checkpoint = None  # opened once, by the first step that needs it
        if not quiet:
            checkpoint = as_checkpoint(model, trust_code=trust)
            noise = api.check_noise(input_path, checkpoint, array=array, allow_gaps=allow_gaps)
            if noise is not None:
                typer.echo(noise.message(), err=True)
        _check_slice_format(slice_format)
        voxel_nm = _voxel_size(voxel_size)
        config = _inference_config(
            tile,
            overlap,
            batch_size=batch_size,
            device=device,
            amp_dtype=amp_dtype,
            channels_last=channels_last,
            torch_compile=torch_compile,
            output_dtype="float32" if float32 else "same",
        )
        announce = not quiet and input_path.exists()  # said once every option is checked
        distributed = DistributedConfig(
            workers=workers,
            memory_per_worker=memory_per_worker,
            scheduler=scheduler,
            block=_triple("--block", block),
            chunks=_triple("--chunks", chunks),
            **({} if stall_timeout is None else {"stall_timeout_s": stall_timeout}),
        )
        checkpoint = checkpoint or as_checkpoint(model, trust_code=trust)
        plan = api.plan_file(
            checkpoint,
            sublattice=sublattice,
            key_period=key_slices,
            key_offset=key_offset,
            blocks_between=(input_path, output_path),
            array=array,
            block_settings=distributed != DistributedConfig(),
        )
        if plan.period_from_model and not quiet:
            typer.echo(f"key-slice model: restoring with period {plan.key_period}", err=True)
        _announce(announce, model, checkpoint, device)
        if plan.mode == "blocks":
            per_worker = distributed.model_copy(update={"threads_per_worker": threads})
            _denoise_in_blocks(
                input_path,
                output_path,
                checkpoint,
                config,
                per_worker,
                overwrite=overwrite,
                array=array,
                quiet=quiet,
                voxel_size=voxel_nm,
            )
            return
        written = api.restore_file(
            input_path,
            output_path,
            checkpoint,
            config=config,
            overwrite=overwrite,
            array=array,
            slice_suffix=f".{slice_format}",
            progress=not quiet and plan.mode != "sublattice",
            key_period=plan.key_period,
            key_offset=key_offset,
            sublattice=plan.mode == "sublattice",
            allow_gaps=allow_gaps,
            voxel_size=voxel_nm,
        )
        if not quiet:
            done = " (sub-lattice restoration)" if plan.mode == "sublattice" else ""
            typer.echo(f"wrote {written}{done}", err=True)


def _resumable_stop(kept: str, output_path: Path) -> typer.Exit:
    """Ctrl-C in a run that resumes: say what is kept, exit 130."""
    typer.echo(
        f"interrupted: {kept} are kept in {output_path}; run the same command again to resume",
        err=True,
    )
    return typer.Exit(130)


def _announce(announce: bool, model: Path, checkpoint: Checkpoint, device: str) -> None:
    """One line: which model restores on which device."""
    if announce:
        shipped = " (the shipped generalist; --model to choose)" if model == DEFAULT_MODEL else ""
        summary = api.restoration_summary(checkpoint, device)
        typer.echo(f"restoring with {summary}{shipped}", err=True)


def _denoise_in_blocks(
    input_path: Path,
    output_path: Path,
    checkpoint: Checkpoint,
    config: InferenceConfig,
    distributed: DistributedConfig,
    *,
    overwrite: bool,
    array: str | None,
    quiet: bool,
    voxel_size: tuple[float, float, float] | None,
) -> None:
    try:
        summary = api.restore_blocks(
            input_path,
            output_path,
            checkpoint,
            config=config,
            distributed=distributed,
            overwrite=overwrite,
            array=array,
            progress=not quiet,
            voxel_size=voxel_size,
        )
    except KeyboardInterrupt:
        raise _resumable_stop("finished blocks", output_path) from None
    if not quiet:
        resumed = f" ({summary.skipped} already done)" if summary.skipped else ""
        typer.echo(f"wrote {summary.output}: {summary.total} blocks{resumed}", err=True)


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
        _check_slice_format(slice_format)
        config = _inference_config(tile, overlap, batch_size=batch_size, device=device)
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
                config=config,
                live=live,
                overwrite=overwrite,
                slice_suffix=f".{slice_format}",
                stop=stop,
                on_slice=show,
            )
        except KeyboardInterrupt:
            raise _resumable_stop("restored slices", output_path) from None
        finally:
            signal.signal(signal.SIGINT, previous)
    for path in run.not_arrived:
        typer.echo(f"warning: {path} never became a whole image; not restored", err=True)
    if not quiet:
        resumed = f" ({run.resumed_from} from an earlier run)" if run.resumed_from else ""
        typer.echo(f"wrote {output_path}: {run.slices} slices{resumed}", err=True)
