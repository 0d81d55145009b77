"""Train the generalist: one network for EM it has never seen, under fast-scan noise it draws.

    python demo/train_generalist.py --minutes 60 --out runs/generalist [--shared ../shared/data]

Clean sources (everything in ``../shared/data`` except the two held-out test sources of
``benchmarks/generalization.py``, the EPFL FIB-SEM crop and the CDeep3M SBEM stack):
ISBI 2012 ssTEM train and test, VNC ssTEM, NeuroProof FIB-SEM cubes 1 and 2, and a
central 1024×1024 crop of the plant EM stack (cropped so that no source dominates the
area-weighted patch draw). Every patch gets a fresh draw of the default ``NoiseFamily``
(shot noise 3-800 e⁻ at white, read noise, detector lag 0-1.6 px, line jitter, registered
resampling, 8/16-bit) and random polarity, contrast and pixel size
(``vemrestore.tasks.synthetic``). The network is the 2D ``unet2p5d`` (window 1): it carried
over best to unseen data in the quality benchmark and assumes nothing about the z step.

The best checkpoint (validation on held-out slices of the training sources) is left in the
run folder; ``--install`` copies it into the package as the default model.

On a GPU machine that cannot reach ``../shared``: ``--pack DIR --keep 0.4`` writes the first
40 % of every source's slices (large sources centre-cropped) to ``DIR``, small enough to
carry, and ``--shared DIR --batch-size 64 --workers 3`` trains from them
(``demo/train_generalist_gpu.sh`` runs the arms of the GPU session).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import tifffile
import torch

from vemrestore.config.training import TrainingConfig
from vemrestore.model_io.checkpoint import save_checkpoint
from vemrestore.model_io.files import load_checkpoint
from vemrestore.models.registry import create_model
from vemrestore.pretrained import GENERALIST
from vemrestore.training.run import TrainResult, resume, train

SOURCES = (
    "isbi2012_sstem_train_30x512x512.tif",
    "isbi2012_sstem_test_30x512x512.tif",
    "vnc_sstem_larva_stack1_20x1024x1024.tif",
    "neuroproof_fibsem_medulla_sample1_250x250x250.tif",
    "neuroproof_fibsem_medulla_sample2_250x250x250.tif",
    "wsu_plantbio_em_plant_10x2048x2048.tif",
)
_CROP = 1024
INSTALLED_BLEND = 0.4
"""``gaussian_blend`` of the installed generalist: its output averaged 60/40 with the fitted
Gaussian, the weight with the best mean PSNR on crops of two *training* sources under the
held-out grid's noises (``python benchmarks/generalization_checks.py blend``)."""


def generalist_config(
    clean: list[str],
    *,
    minutes: float,
    seed: int = 0,
    lr: float = 1e-3,
    window: int = 1,
    width: int = 16,
    batch_size: int = 8,
    workers: int = 0,
) -> TrainingConfig:
    """The recipe: unet2p5d (2D by default), MSE, Adam, 96 px patches (sources need 240 px:
    the pixel-size augmentation averages down up to 2.5 times the patch)."""
    return TrainingConfig(
        data={"clean": clean},
        synthetic={},
        model={"name": "unet2p5d", "params": {"window": window, "base_channels": width}},
        patch_size=(96, 96),
        batch_size=batch_size,
        workers=workers,
        loss="1*MSE",
        optimizer={"lr": lr, "plateau_patience": 6},
        epochs=None,
        max_time=f"{round(minutes * 60)}s",
        steps_per_epoch=200,
        validation={"patches": 48, "axis": "z"},
        seed=seed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).parent
    parser.add_argument("--shared", type=Path, default=here.parent.parent / "shared" / "data")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--out", type=Path, help="run folder (must be new)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out; --minutes is the total"
    )
    parser.add_argument("--install", action="store_true", help="copy best.pt into the package")
    parser.add_argument(
        "--install-from", type=Path, help="only install this checkpoint (e.g. RUN/best.pt)"
    )
    parser.add_argument("--init", type=Path, help="start from these weights (a stage 2)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--seed", type=int, default=0, help="patch and noise draws (a later stage wants a new one)"
    )
    parser.add_argument(
        "--window",
        type=int,
        default=1,
        help="slices per input (3: 2.5D; a 2D --init is widened to it)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on shared cores)"
    )
    parser.add_argument(
        "--width",
        type=int,
        default=16,
        help="unet2p5d base_channels (a narrower --init is widened to it, restoring the same)",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="patch-drawing processes")
    parser.add_argument("--pack", type=Path, help="only write thinned sources to this folder")
    parser.add_argument("--keep", type=float, default=0.4, help="fraction of slices --pack keeps")
    args = parser.parse_args()
    if args.pack is not None:
        pack(args.shared, args.pack, keep=args.keep)
        return
    if args.install_from is not None:
        install(args.install_from)
        return
    if args.out is None:
        parser.error("--out is required to train")
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    if args.resume:
        result = resume(args.out, [f"max_time={round(args.minutes * 60)}s"])
    else:
        result = _train_new(args)
    minutes = (time.monotonic() - started) / 60
    print(f"{result.steps} steps in {minutes:.1f} min, best validation {result.best_psnr:.2f} dB")
    if args.install:
        install(result.best)


def install(best: Path) -> None:
    """Make ``best`` the package's default model, blended with ``INSTALLED_BLEND``. Its
    recorded input range is dropped: the generalist draws contrast and polarity per patch, so
    no input range is unusual for it (runs made since record none; earlier ones did, and
    ``denoise`` warned on every input)."""
    checkpoint = load_checkpoint(best)
    params = {**checkpoint.model.model_params, "gaussian_blend": INSTALLED_BLEND}
    model = create_model(checkpoint.model.model_name, **params)
    model.load_state_dict(checkpoint.model.state_dict())
    metadata = {k: v for k, v in checkpoint.metadata.items() if k != "input_spread"}
    save_checkpoint(GENERALIST, model, checkpoint.normalization, metadata)
    print(f"installed {best} as {GENERALIST}")


def _train_new(args: argparse.Namespace) -> TrainResult:
    """A new run; crops of the large sources are kept beside it (``OUT-sources``), where a
    ``--resume`` finds them again."""
    crops = args.out.with_name(args.out.name + "-sources")
    crops.mkdir(parents=True, exist_ok=True)
    clean = []
    for name in SOURCES:
        volume = tifffile.imread(args.shared / name)
        if volume.shape[1] > _CROP:
            y0, x0 = (volume.shape[1] - _CROP) // 2, (volume.shape[2] - _CROP) // 2
            tifffile.imwrite(crops / name, volume[:, y0 : y0 + _CROP, x0 : x0 + _CROP])
            clean.append(str(crops / name))
        else:
            clean.append(str(args.shared / name))
    config = generalist_config(
        clean,
        minutes=args.minutes,
        lr=args.lr,
        seed=args.seed,
        window=args.window,
        width=args.width,
        batch_size=args.batch_size,
        workers=args.workers,
    )
    init = args.init
    if init is not None and args.window > 1:
        init = widened(init, window=args.window, out=args.out.with_name(args.out.name + "-init.pt"))
    if init is not None and args.width > _width(init):
        wide = args.out.with_name(args.out.name + "-wide.pt")
        init = with_width(init, width=args.width, out=wide)
    return train(config, args.out, init=init)


def _width(checkpoint: Path) -> int:
    return load_checkpoint(checkpoint).model.model_params.get("base_channels", 16)


def with_width(init: Path, *, width: int, out: Path) -> Path:
    """``init`` with ``width`` base channels, restoring exactly what ``init`` restores: every
    old channel keeps its weights and ignores the new ones (their weights into old channels
    and into the head start at zero; the network has no normalisation layers and adds its
    skips), while the new channels start from fresh weights. Training then decides what the
    extra width adds, from the trained network rather than from scratch."""
    start = load_checkpoint(init)
    model = create_model("unet2p5d", **{**start.model.model_params, "base_channels": width})
    old = start.model.state_dict()
    state = model.state_dict()
    for name, fresh in state.items():
        kept = old[name]
        if kept.dim() >= 2:
            fresh[: kept.shape[0], kept.shape[1] :] = 0  # old channels ignore new inputs
        fresh[tuple(slice(0, size) for size in kept.shape)] = kept
    model.load_state_dict(state)
    save_checkpoint(out, model, start.normalization)
    return out


def pack(shared: Path, out: Path, *, keep: float) -> None:
    """The sources thinned to the first ``keep`` of their slices (large ones centre-cropped
    as training crops them), zlib-compressed: the same mix of sources by area, small enough
    to travel to a machine without ``../shared``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        volume = tifffile.imread(shared / name)
        y0, x0 = max(0, (volume.shape[1] - _CROP) // 2), max(0, (volume.shape[2] - _CROP) // 2)
        slices = max(1, round(volume.shape[0] * keep))
        thinned = volume[:slices, y0 : y0 + _CROP, x0 : x0 + _CROP]
        tifffile.imwrite(out / name, thinned, photometric="minisblack", compression="zlib")
        print(f"{name}: {thinned.shape}")


def widened(init: Path, *, window: int, out: Path) -> Path:
    """A 2D (window 1) unet2p5d widened to ``window`` slices, whose centre output starts as
    the 2D restoration: the stem sees the centre slice only (the neighbours' weights start at
    zero, so training decides how much they add) and every output slice gets the centre's
    correction (the network is residual, so the outer slices start from their own input)."""
    start = load_checkpoint(init)
    params = start.model.model_params
    if params.get("window", 1) != 1:
        raise SystemExit(f"error: {init}: --window {window} widens 2D weights only")
    model = create_model("unet2p5d", **{**params, "window": window})
    state = dict(start.model.state_dict())
    stem = state["stem.0.0.weight"]
    widened_stem = stem.new_zeros(stem.shape[0], window, *stem.shape[2:])
    widened_stem[:, window // 2] = stem[:, 0]
    state["stem.0.0.weight"] = widened_stem
    state["head.weight"] = state["head.weight"].repeat(window, 1, 1, 1)
    state["head.bias"] = state["head.bias"].repeat(window)
    model.load_state_dict(state)
    save_checkpoint(out, model, start.normalization)
    return out


if __name__ == "__main__":
    main()
