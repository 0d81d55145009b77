"""Command line of training: ``vemrestore train supervised|self-supervised``, ``config init``.

A thin adapter: options become a ``TrainingConfig`` (defaults < ``--config`` file <
``--set`` < dedicated options), then ``vemrestore.training.run`` does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vemrestore.cli.errors import user_errors
from vemrestore.cli.options import (
    OldOutput,
    OldOverwrite,
    Overwrite,
    Quiet,
    Threads,
    one_output,
    quiet_libraries,
)
from vemrestore.config.training import TrainingConfig, with_key_slices, with_self_supervised
from vemrestore.config.training_yaml import DEFAULT_CONFIG_YAML, load_training_config
from vemrestore.errors import VemRestoreError
from vemrestore.threads import set_threads

if TYPE_CHECKING:
    from collections.abc import Callable

    from vemrestore.training.run import TrainResult

train_app = typer.Typer(help="Train restoration networks.", no_args_is_help=True)
config_app = typer.Typer(help="Training configuration files.", no_args_is_help=True)
FROM_SCRATCH_HELP = (
    "Start from random weights (default: fine-tune the shipped generalist when the network "
    "is its 2D unet2p5d)."
)
# The budget and starting-point options every training command shares.
Epochs = Annotated[int | None, typer.Option(help="Budget: epochs.")]
Steps = Annotated[int | None, typer.Option(help="Budget: optimizer steps.")]
MaxTime = Annotated[
    str | None,
    typer.Option(
        help="Budget: wall-clock, e.g. 5m; with --resume it counts the earlier runs' time."
    ),
]
Resume = Annotated[Path | None, typer.Option(help="Continue the run in this folder.")]
Init = Annotated[Path | None, typer.Option(help="Start from this checkpoint's weights.")]
FromScratch = Annotated[bool, typer.Option(help=FROM_SCRATCH_HELP)]


def _budget_overrides(epochs: int | None, steps: int | None, max_time: str | None) -> list[str]:
    """Budget options replace the whole budget (the config's epochs no longer apply)."""
    if epochs is None and steps is None and max_time is None:
        return []
    return [
        f"epochs={epochs if epochs is not None else 'null'}",
        f"steps={steps if steps is not None else 'null'}",
        f"max_time={max_time if max_time is not None else 'null'}",
    ]


@train_app.command("supervised")
def supervised(
    fast: Annotated[
        list[Path] | None, typer.Option(help="Fast-scan volume (repeat per pair).")
    ] = None,
    slow: Annotated[list[Path] | None, typer.Option(help="Slow-scan volume, same order.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="RUN", help="New run folder.")
    ] = None,
    out: OldOutput = None,
    config: Annotated[Path | None, typer.Option(help="Training config YAML.")] = None,
    key_slices: Annotated[
        int | None, typer.Option(help="Key-slice mode with this period (slow every P slices).")
    ] = None,
    key_offset: Annotated[int, typer.Option(help="z of the first key slice.")] = 0,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override: section.key=value.")
    ] = None,
    epochs: Epochs = None,
    steps: Steps = None,
    max_time: MaxTime = None,
    resume: Resume = None,
    init: Init = None,
    from_scratch: FromScratch = False,
    quiet: Quiet = False,
    threads: Threads = None,
) -> None:
    """Train fast → slow on registered pairs; writes checkpoints and logs into -o RUN."""
    _import_training_quietly()
    with user_errors():
        set_threads(threads)
        out = one_output(output, out, required=False)
        sets = [*(overrides or []), *_budget_overrides(epochs, steps, max_time)]

        def new_run() -> TrainingConfig:
            if len(fast or []) != len(slow or []):
                raise VemRestoreError("give one --slow for every --fast, in the same order")
            data = load_training_config(config, sets).model_dump()
            data["data"]["pairs"] += [
                {"fast": str(f), "slow": str(s)}
                for f, s in zip(fast or [], slow or [], strict=True)
            ]
            settings = TrainingConfig(**data)
            if key_slices is not None:
                settings = with_key_slices(settings, key_slices, key_offset)
            return settings

        new_run_options = bool(fast or slow or out or config or init or key_slices)
        _echo_result(
            _train_or_resume(
                resume,
                sets,
                out,
                new_run,
                new_run_options=new_run_options,
                quiet=quiet,
                init=init,
                from_scratch=from_scratch,
            )
        )


@train_app.command("self-supervised")
def self_supervised(
    noisy: Annotated[
        list[Path] | None, typer.Option(help="Noisy volume or 2D image (repeat for more).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="RUN", help="New run folder.")
    ] = None,
    out: OldOutput = None,
    config: Annotated[Path | None, typer.Option(help="Training config YAML.")] = None,
    overrides: Annotated[
        list[str] | None, typer.Option("--set", help="Override: section.key=value.")
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Refuse volumes whose noise is not uniform across slices.")
    ] = False,
    normalize_drift: Annotated[
        bool, typer.Option(help="Flatten per-slice brightness/contrast drift before training.")
    ] = False,
    epochs: Epochs = None,
    steps: Steps = None,
    max_time: MaxTime = None,
    resume: Resume = None,
    init: Init = None,
    from_scratch: FromScratch = False,
    quiet: Quiet = False,
    threads: Threads = None,
) -> None:
    """Train on noisy volumes alone (checkerboard self-supervision); checks noise uniformity
    first (see `vemrestore inspect noise`); writes checkpoints and logs into -o RUN."""
    _import_training_quietly()
    with user_errors():
        set_threads(threads)
        out = one_output(output, out, required=False)
        sets = [*(overrides or []), *_budget_overrides(epochs, steps, max_time)]

        def new_run() -> TrainingConfig:
            return with_self_supervised(
                load_training_config(config, sets),
                [str(path) for path in noisy or []],
                strict=strict or None,
                normalize_drift=normalize_drift or None,
            )

        new_run_options = bool(noisy or out or config or init or strict or normalize_drift)
        _echo_result(
            _train_or_resume(
                resume,
                sets,
                out,
                new_run,
                new_run_options=new_run_options,
                quiet=quiet,
                init=init,
                from_scratch=from_scratch,
            )
        )


def _import_training_quietly() -> None:
    """Import the training stack, then silence it: Lightning resets its loggers on import."""
    import vemrestore.training.run  # noqa: F401

    quiet_libraries()


def _train_or_resume(
    resume: Path | None,
    sets: list[str],
    out: Path | None,
    new_run: Callable[[], TrainingConfig],
    *,
    new_run_options: bool,
    quiet: bool,
    init: Path | None,
    from_scratch: bool,
) -> TrainResult:
    """What both training commands do once their options are read: continue ``resume``
    (which takes only --set and budget options), or train the config ``new_run`` builds."""
    from vemrestore.training import run

    if resume is not None:
        if new_run_options:
            raise VemRestoreError(
                f"--resume {resume}: the run's saved config is used; only --set and budget "
                "options may change it"
            )
        return run.resume(resume, sets, progress=not quiet)
    if out is None:
        raise VemRestoreError("-o/--output RUN is required (a new run folder)")
    return run.train(new_run(), out, init=init, progress=not quiet, from_scratch=from_scratch)


def _echo_result(result: TrainResult) -> None:
    """One summary line; the run's warnings (unvalidated, no gain over the input) are logged
    by the training layer and shown by the CLI's log handler."""
    if result.validated:
        quality = (
            f"best validation PSNR {result.best_psnr:.2f} dB (input {result.input_psnr:.2f} dB)"
        )
    else:
        quality = "no validation ran: best.pt holds the last weights"
    typer.echo(f"{result.run_dir}: {result.epochs} epochs, {result.steps} steps, {quality}")
    if result.start_comparison is not None:
        comparison = result.start_comparison
        typer.echo(f"{comparison.describe()}: best.pt holds {comparison.kept()}")
    typer.echo(f"model: {result.best}")


@config_app.command("init")
def init_config(
    path: Annotated[Path, typer.Argument(help="Where to write the config.")] = Path("train.yaml"),
    overwrite: Overwrite = False,
    force: OldOverwrite = False,
) -> None:
    """Write a commented default training config."""
    with user_errors():
        if path.exists() and not (overwrite or force):
            raise VemRestoreError(f"{path}: already exists (use --overwrite to replace it)")
        path.write_text(DEFAULT_CONFIG_YAML)
        typer.echo(f"wrote {path}")
