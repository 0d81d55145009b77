"""Throughput, engine efficiency, stage times and peak memory of the whole-volume engine.

    python benchmarks/engine.py                                   # records RESULTS.md
    python benchmarks/engine.py --before-src /tmp/before/src      # also the old engine, same run
    python benchmarks/engine.py --no-record --cases memory        # quicker look

For the identity model (pure engine overhead) and the default model (``vemrestore.pretrained
.DEFAULT_MODEL``, what ``vemrestore denoise`` uses without ``--model``; both engines load the
same file), each case reports:

- whole-volume throughput (output voxels / wall time); in memory the volume is restored
  once and then ``--steady-passes`` times more in the process, and the rate is the median
  of those passes, their range beside it (steady state: the first pass in a new process also
  pays for first-touch memory, and is shown too; the spread is the machine's);
- model-alone throughput: the same predictor on batches of random tiles of the same shape
  and batch size (tile voxels / time), measured in the same process just before;
- their ratio, the engine efficiency (tile overlap counts against it);
- the seconds each engine stage worked (read, normalise, predict, blend, write): the
  stages overlap in time, so they may sum past the wall time;
- the process's own peak RSS.

Cases: in memory (``restore_slices`` on an array), TIFF → TIFF and Zarr → Zarr (streamed in
one process, as ``restore_file`` does), and Zarr → Zarr in blocks of 8×512×512 on 1 and 2
local Dask workers (``restore_blocks``; throughput only, the stages run in the workers; the
wall time includes starting the cluster). Each case runs
in its own process. With ``--before-src`` every case also runs with that source tree on the
path (e.g. ``git archive main src | tar -x -C /tmp/before``), interleaved with this one, so
both see the same machine load.

On a GPU (batch from free memory, float16 autocast): e.g. ``--device cuda --models default
--cases zarr --default-shape 256 4096 4096`` (4.3 Gvoxel); watch ``nvidia-smi dmon -s u``
beside it for the GPU utilisation.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from memory import peak_rss_mib
from results import load_average, machine_info, publish

SRC = Path(__file__).resolve().parents[1] / "src"
SHAPES = {"identity": (32, 2048, 2048), "default": (2, 1024, 1024)}
"""Volume per model: large enough for a stable rate, small enough for a short run."""

BLOCK, BLOCK_CHUNKS = (8, 512, 512), (8, 256, 256)
"""Blocks small enough that the benchmark volumes make several (4 for the default model)."""

CASES = ("memory", "tiff", "zarr", "blocks-1", "blocks-2")
STAGES = ("read", "normalise", "predict", "blend", "write")
MODEL_ALONE_S = 2.0
"""Seconds of model-alone timing per case (after one warm-up call)."""


def _synthetic_volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Random uint8 voxels: content does not change the engine's speed."""
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _checkpoint(model_name: str, default_model: Path, identity_window: int = 5):
    try:
        from vemrestore.model_io.files import as_checkpoint
    except ImportError:  # before the model_io package (issue 15)
        try:
            from vemrestore.model_files import as_checkpoint
        except ImportError:  # the engine before the restoration plan (issue 15)
            from vemrestore.checkpoint import as_checkpoint

    if model_name == "identity":
        from vemrestore.models import create_model

        return as_checkpoint(create_model("identity", window=identity_window))
    return as_checkpoint(default_model)


def _default_model() -> Path:
    """What ``vemrestore denoise`` uses without ``--model`` (the same file for both engines)."""
    from vemrestore import pretrained

    return Path(pretrained.DEFAULT_MODEL)


def _model_alone(predictor, tile: tuple[int, int, int], batch: int) -> float:
    """Tile voxels per second of the predictor alone on random (batch, *tile) float32 input."""
    tiles = np.random.default_rng(1).random((batch, *tile), dtype=np.float32)
    predictor(tiles)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < MODEL_ALONE_S:
        predictor(tiles)
        calls += 1
    return calls * tiles.size / (time.perf_counter() - start)


def _case(args: argparse.Namespace) -> dict:
    """Run one case in this process; the engine is whichever ``vemrestore`` is importable."""
    from vemrestore import api
    from vemrestore.config import DistributedConfig, InferenceConfig
    from vemrestore.data.normalization import fit_normalizer
    from vemrestore.inference import Predictor, restore_slices
    from vemrestore.io import ArrayReader, VolumeSpec, open_volume, write_volume

    case, model_name, workdir = args.case, args.model, args.workdir
    checkpoint = _checkpoint(model_name, args.default_model, args.identity_window)
    config = InferenceConfig(tile=tuple(args.tile) if args.tile else None, device=args.device)
    volume = _synthetic_volume(SHAPES[model_name])
    source = workdir / f"{model_name}.{'tif' if case == 'tiff' else 'zarr'}"
    target = workdir / f"{model_name}_restored.{'tif' if case == 'tiff' else 'zarr'}"
    shutil.rmtree(target, ignore_errors=True)
    timed = "times" in inspect.signature(restore_slices).parameters and case[:6] != "blocks"
    stage_times = _stage_times() if timed else None
    options = {"times": stage_times} if timed else {}

    reader = ArrayReader(volume) if case == "memory" else open_volume(source)
    grid = _grid(reader, checkpoint, config)
    predictor = Predictor(checkpoint.model, args.device)
    batch = predictor.batch_size(None, _tile(grid)) if hasattr(predictor, "batch_size") else 4
    model_alone = _model_alone(predictor, _tile(grid), batch)
    start = time.perf_counter()
    if case.startswith("blocks"):
        workers = int(case.split("-")[1])
        blocks = DistributedConfig(workers=workers, block=BLOCK, chunks=BLOCK_CHUNKS)
        summary = api.restore_blocks(
            source, target, checkpoint, config=config, distributed=blocks, overwrite=True
        )
        assert summary.complete
    elif case == "memory":  # a first pass in a new process, then the steady state
        gather = _gatherer(volume.shape[0])
        normalizer = fit_normalizer(checkpoint.normalization, reader)
        restored = gather(restore_slices(reader, predictor, normalizer, grid, batch, np.uint8))
        first_seconds = time.perf_counter() - start
        passes = []
        for _ in range(args.steady_passes):
            options = {"times": _stage_times()} if timed else {}
            start = time.perf_counter()
            slices = restore_slices(reader, predictor, normalizer, grid, batch, np.uint8, **options)
            restored = gather(slices)
            passes.append((time.perf_counter() - start, options.get("times")))
        passes.sort(key=lambda seconds_and_times: seconds_and_times[0])
        seconds, stage_times = passes[len(passes) // 2]
        steady_range = (passes[0][0], passes[-1][0])
    else:
        normalizer = fit_normalizer(checkpoint.normalization, reader)
        slices = restore_slices(reader, predictor, normalizer, grid, batch, np.uint8, **options)
        spec = VolumeSpec(reader.shape, np.dtype(np.uint8))
        write_volume(target, slices, spec, overwrite=True)
    if case != "memory":
        seconds = time.perf_counter() - start
        first_seconds, steady_range = seconds, (seconds, seconds)
    peak = peak_rss_mib()
    if model_name == "identity":
        if case != "memory":
            with open_volume(target) as written:
                restored = written.read(slice(None))
        assert np.array_equal(restored, volume), "the identity engine must be exact"
    reader.close()
    return {
        "voxels": volume.size,
        "seconds": seconds,
        "first_seconds": first_seconds,
        "steady_range": steady_range,
        "model_alone": model_alone,
        "tile": list(_tile(grid)),
        "batch": batch,
        "stages": stage_times.as_dict() if stage_times is not None else None,
        "peak_rss_mib": peak,
    }


def _stage_times():
    from vemrestore.inference import StageTimes

    return StageTimes()


def _gatherer(depth: int):
    """Slices -> volume the way ``vemrestore.restore`` of the engine under test collects them
    (engines before ``gather_slices`` stacked a list)."""
    try:
        from vemrestore.inference import gather_slices
    except ImportError:
        return lambda slices: np.stack(list(slices))
    return lambda slices: gather_slices(slices, depth)


def _grid(reader, checkpoint, config):
    """The engine's default tiling, asked the way the engine under test knows."""
    try:
        from vemrestore.inference.plan import tile_grid
    except ImportError:  # the engine before the restoration plan (issue 15)
        from vemrestore.api import _plan_grid

        return _plan_grid(reader, checkpoint, config)
    return tile_grid(reader.shape, checkpoint.restoration, config)


def _tile(grid) -> tuple[int, int, int]:
    """The grid's (z, y, x) tile (the engine before this issue has no ``TileGrid.tile``)."""
    return grid.z.tile, grid.y.tile, grid.x.tile


def _prepare_inputs(workdir: Path, cases: list[str]) -> None:
    from vemrestore.io import VolumeSpec, write_volume

    for model_name, shape in SHAPES.items():
        volume = _synthetic_volume(shape)
        spec = VolumeSpec(shape, np.dtype(np.uint8))
        if "tiff" in cases:
            write_volume(workdir / f"{model_name}.tif", iter(volume), spec, overwrite=True)
        if any(case in ("zarr", "blocks-1", "blocks-2") for case in cases):
            write_volume(workdir / f"{model_name}.zarr", iter(volume), spec, overwrite=True)


def _run(args: list[str], src: Path, threads: int) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(
        [sys.executable, __file__, *args, "--threads", str(threads)],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )
    if done.returncode != 0:
        raise RuntimeError(f"case {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(case: str, model_name: str, engine: str, result: dict) -> str:
    rate = result["voxels"] / result["seconds"] / 1e6
    first = result["voxels"] / result["first_seconds"] / 1e6
    slowest, fastest = (
        result["voxels"] / seconds / 1e6 for seconds in result["steady_range"][::-1]
    )
    alone = result["model_alone"] / 1e6
    stages = result["stages"]
    stage_cells = (
        " | ".join(f"{stages[name]:.2f}" for name in STAGES) if stages else " | ".join("—" * 5)
    )
    tile = "×".join(map(str, result["tile"]))
    return (
        f"| {case} | {model_name} | {engine} | {tile} | {rate:.2f} | {slowest:.1f}-{fastest:.1f} "
        f"| {first:.2f} | {alone:.2f} "
        f"| {rate / alone:.0%} | {result['seconds']:.1f} | {stage_cells} "
        f"| {result['peak_rss_mib']:.0f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=tuple(SHAPES), help=argparse.SUPPRESS)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--models", nargs="+", choices=tuple(SHAPES), default=list(SHAPES))
    parser.add_argument("--tile", type=int, nargs=3, help="Z Y X tile (default: the engine's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads per process")
    parser.add_argument(
        "--identity-window",
        type=int,
        default=5,
        help="the identity model's window (5: tiles 5 deep with z overlap 2; 1: the geometry "
        "of the 2D default model)",
    )
    parser.add_argument(
        "--steady-passes",
        type=int,
        default=5,
        help="in memory: passes after the first; the median is reported, with their range",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N (blocks: one per GPU)")
    for name in SHAPES:
        parser.add_argument(
            f"--{name}-shape", type=int, nargs=3, help=f"Z Y X, default {SHAPES[name]}"
        )
    parser.add_argument("--before-src", type=Path, help="also run the engine from this src/")
    parser.add_argument("--default-model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--after-src", type=Path, default=SRC, help=argparse.SUPPRESS)
    parser.add_argument(
        "--workdir", type=Path, default=Path(__file__).with_name("_work") / "engine"
    )
    parser.add_argument("--no-record", action="store_true", help="print only, leave RESULTS.md")
    args = parser.parse_args()
    tile = tuple(args.tile) if args.tile else None
    for name in SHAPES:
        SHAPES[name] = tuple(getattr(args, f"{name}_shape") or SHAPES[name])

    torch.set_num_threads(args.threads)
    if args.case:
        print(json.dumps(_case(args)))
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    default_model = _default_model()
    _prepare_inputs(args.workdir, args.cases)
    engines = [("after", args.after_src)]
    if args.before_src:
        engines.append(("before", args.before_src))
    load_before, rows, started = load_average(), [], time.perf_counter()
    try:
        for case in args.cases:
            for model_name in args.models:
                for engine, src in engines:
                    case_args = ["--case", case, "--model", model_name]
                    case_args += ["--workdir", str(args.workdir)]
                    case_args += ["--default-model", str(default_model), "--device", args.device]
                    case_args += ["--identity-window", str(args.identity_window)]
                    case_args += ["--steady-passes", str(args.steady_passes)]
                    for name, shape in SHAPES.items():
                        case_args += [f"--{name}-shape", *map(str, shape)]
                    if tile:
                        case_args += ["--tile", *map(str, tile)]
                    result = _run(case_args, src, args.threads)
                    rows.append(_row(case, model_name, engine, result))
                    print(rows[-1], flush=True)
    finally:
        shutil.rmtree(args.workdir, ignore_errors=True)
    minutes = (time.perf_counter() - started) / 60
    header = (
        "| case | model | engine | tile | Mvoxel/s | range | first pass (Mvoxel/s) | model "
        "alone (Mvoxel/s) | efficiency | seconds | read | normalise | predict | blend | write "
        "| peak RSS (MiB) |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    command = "python benchmarks/engine.py " + " ".join(sys.argv[1:])
    body = (
        f"Command: `{command.strip()}` ({minutes:.1f} min)\n\n"
        f"Machine: {machine_info()}; device {args.device}; torch threads {args.threads} per "
        "process. "
        f"1/5/15-minute load average {load_before} before and {load_average()} after the run.\n\n"
        f"Volumes: random uint8, {'×'.join(map(str, SHAPES['identity']))} for the identity "
        f"model (window {args.identity_window}), {'×'.join(map(str, SHAPES['default']))} for "
        f"the default model ({default_model.name}). "
        "Stage columns: seconds each stage worked (they overlap in time when pipelined).\n\n"
        f"{header}\n" + "\n".join(rows)
    )
    publish("Engine (benchmarks/engine.py)", body, record=not args.no_record)


if __name__ == "__main__":
    main()
