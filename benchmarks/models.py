"""Size, cost and speed of the restoration networks (issue: restoration networks).

    python benchmarks/models.py                 # CPU, 2 threads; records benchmarks/RESULTS.md
    python benchmarks/models.py --no-record     # print only
    python benchmarks/models.py --device cuda --amp   # GPU, fp16 autocast (own RESULTS section)

For each default network (random weights: speed does not depend on them) it measures the
parameter count, FLOPs per voxel (``FlopCounterMode``: convolutions and matrix products only,
elementwise work not counted), and voxels/s restoring one window of 5×256×256 in eval mode
under ``inference_mode`` after warm-up (median of the timed repeats). It also measures the
unet2p5d width/depth variants its defaults were chosen from, with their receptive field.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from dataclasses import dataclass

import torch
from results import machine_info, update_section
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vemrestore.models import create_model

WINDOW = 5
TILE = 256
# unet2p5d (base_channels, depth) candidates; the first is the default.
UNET_VARIANTS = [(16, 4), (16, 2), (16, 3), (24, 3)]


@dataclass
class Measurement:
    label: str
    params: int
    flops_per_voxel: float
    seconds_per_window: float
    voxels_per_second: float
    receptive_field: str = "—"


def _flops_per_voxel(model: nn.Module, x: torch.Tensor) -> float:
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / x.numel()


def _seconds_per_call(
    model: nn.Module, x: torch.Tensor, amp: bool, min_repeats: int, min_seconds: float
) -> float:
    """Median wall time of one forward pass, after two warm-up passes."""
    synchronize = torch.cuda.synchronize if x.is_cuda else (lambda: None)
    autocast = (
        torch.autocast(device_type=x.device.type, dtype=torch.float16)
        if amp
        else contextlib.nullcontext()
    )
    times: list[float] = []
    with torch.inference_mode(), autocast:
        for _ in range(2):
            model(x)
        synchronize()
        while len(times) < min_repeats or sum(times) < min_seconds:
            start = time.perf_counter()
            model(x)
            synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _receptive_field(model: nn.Module, window: int) -> str:
    """Width in pixels of the input region that reaches the centre output pixel (by gradient)."""
    x = torch.rand(1, window, TILE, TILE, requires_grad=True)
    model(x)[0, window // 2, TILE // 2, TILE // 2].backward()
    rows = torch.nonzero(x.grad.abs().sum(dim=(0, 1, 3)))
    return f"{int(rows.max() - rows.min()) + 1} px"


def measure(
    label: str, name: str, args: argparse.Namespace, with_receptive_field: bool = False, **params
) -> Measurement:
    torch.manual_seed(0)
    model = create_model(name, window=WINDOW, **params).eval()
    x = torch.rand(1, WINDOW, TILE, TILE)
    flops = _flops_per_voxel(model, x)
    receptive_field = _receptive_field(model, WINDOW) if with_receptive_field else "—"
    model, x = model.to(args.device), x.to(args.device)
    seconds = _seconds_per_call(model, x, args.amp, args.min_repeats, args.min_seconds)
    params_count = sum(p.numel() for p in model.parameters())
    return Measurement(label, params_count, flops, seconds, x.numel() / seconds, receptive_field)


def _table(rows: list[Measurement]) -> str:
    lines = [
        "| model | params | FLOPs/voxel | s per 5×256×256 window | voxels/s | receptive field |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.label} | {row.params / 1e6:.3f} M | {row.flops_per_voxel / 1e3:,.1f} k | "
            f"{row.seconds_per_window:.4f} | {row.voxels_per_second / 1e3:,.0f} k | "
            f"{row.receptive_field} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--amp", action="store_true", help="fp16 autocast (GPU)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch)")
    parser.add_argument("--min-repeats", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=3.0)
    parser.add_argument("--no-record", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    default_base, default_depth = UNET_VARIANTS[0]
    unet = measure("unet2p5d (default)", "unet2p5d", args, with_receptive_field=True)
    gshift = measure("gshift (default)", "gshift", args)
    variants = [
        measure(
            f"unet2p5d base {base}, depth {depth}",
            "unet2p5d",
            args,
            with_receptive_field=True,
            base_channels=base,
            depth=depth,
        )
        for base, depth in UNET_VARIANTS[1:]
    ]
    ratio = unet.voxels_per_second / gshift.voxels_per_second

    command = "python benchmarks/models.py" + (
        f" --device {args.device}" + (" --amp" if args.amp else "") if args.device != "cpu" else ""
    )
    precision = "fp16 autocast" if args.amp else "fp32"
    body = "\n\n".join(
        [
            f"Command: `{command}`",
            f"Machine: {machine_info()}; device {args.device}, {torch.get_num_threads()} torch "
            f"threads, {precision}, eval + inference_mode, batch 1 window of "
            f"{WINDOW}×{TILE}×{TILE}, random weights, median of ≥ {args.min_repeats} timed "
            "runs after 2 warm-up runs. FLOPs: FlopCounterMode (convolutions and matrix "
            "products; elementwise work not counted).",
            _table([unet, gshift]),
            f"**Speed ratio unet2p5d / gshift: {ratio:.0f}×** (target ≥ 20×).",
            f"unet2p5d variants (default: base {default_base}, depth {default_depth}); receptive "
            "field measured by gradient from the centre output pixel:",
            _table([unet, *variants]),
        ]
    )
    print(body)
    if not args.no_record:
        title = "Models (benchmarks/models.py)"
        if args.device != "cpu":
            title = f"Models on {args.device} (benchmarks/models.py)"
        update_section(title, body)


if __name__ == "__main__":
    main()
