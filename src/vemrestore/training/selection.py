"""Did self-supervised fine-tuning beat the weights it started from, on the volume itself?

Sub-lattice training can learn to keep noise that is correlated between its pixel pairs
(scans resampled by registration), and its validation PSNR, scored against noisy pixels,
cannot see that: on registered scans the fine-tuned network ended 0.8-1.2 dB below the
generalist it started from (``benchmarks/RESULTS.md``). SURE with the noise calibrated on the
same volume (``vemrestore.evaluation.risk``) estimates each restoration's error against the
unknown clean volume, so the run can keep whichever is better without a slow scan.

Fine-tuned weights stay close to the ones they started from, so weights mixed between the two
(``(1 − s)·start + s·fine-tuned``, weight-space ensembling after Wortsman et al., "Robust
fine-tuning of zero-shot models", CVPR 2022) are a network too, restoring at the same speed;
SURE scores a few mixes along with both ends and the run keeps the best of them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vemrestore.errors import VemRestoreError
from vemrestore.evaluation.risk import estimated_risk
from vemrestore.io.sampling import plan_sample
from vemrestore.simulate import calibration
from vemrestore.tasks.synthetic import RecorruptedTask
from vemrestore.training.quiet import quiet_loggers

logger = logging.getLogger(__name__)

_SAMPLE_BYTES = 16 * 384 * 384 * 4
"""The comparison runs on about 2.4 M float32 pixels at most (``io.sampling.plan_sample``:
evenly spaced slices, at least 8, centrally cropped when they do not fit): a few seconds per
network on 2 CPU cores, and a SURE spread far below the differences that matter: five seeds
of one restoration spread over 0.05-0.07 dB on 1 M pixels, and both networks see the same
draws, against 0.4-0.8 dB between the networks where fine-tuning was measured to help or
hurt."""
_SLICES_PER_BATCH = 4
_SEED = 20261130
MIXED_SHARES = (0.25, 0.5, 0.75)
"""Shares of the fine-tuned weights scored between the two ends."""


@dataclass(frozen=True)
class StartComparison:
    """Estimated PSNR (dB, normalised data range 1, SURE) of the starting and the fine-tuned
    network on a sample of the training volume; their difference is what the estimate is
    good for."""

    start_psnr: float
    fine_tuned_psnr: float
    mixed_psnr: tuple[tuple[float, float], ...] = ()
    """(share of the fine-tuned weights, estimated PSNR) of the mixed networks scored."""

    @property
    def best_share(self) -> float:
        """The share of the fine-tuned weights in the best network: 0 the start, 1 the
        fine-tuned one (on a tie, the less fine-tuned)."""
        scored = [(0.0, self.start_psnr), *self.mixed_psnr, (1.0, self.fine_tuned_psnr)]
        return max(scored, key=lambda entry: (entry[1], -entry[0]))[0]

    @property
    def keeps_start(self) -> bool:
        return self.best_share == 0.0

    def kept(self) -> str:
        """Which network the run keeps, in words."""
        share = self.best_share
        if share in (0.0, 1.0):
            return "the starting model" if share == 0.0 else "the fine-tuned model"
        return f"the fine-tuned weights mixed {share:.0%} with {1 - share:.0%} of the start's"

    def describe(self) -> str:
        """Differences only: a noise level off by 10 % moves every estimate by several dB
        where the restoration error is far below the noise (measured), but not their gaps."""
        text = (
            f"fine-tuning changed the error estimated on the volume itself (SURE with its "
            f"calibrated noise) by {self.fine_tuned_psnr - self.start_psnr:+.2f} dB PSNR"
        )
        share = self.best_share
        if share not in (0.0, 1.0):
            gain = dict(self.mixed_psnr)[share] - self.start_psnr
            text += f", the weights mixed {share:.0%} fine-tuned by {gain:+.2f} dB"
        return text


def compare_with_start(
    start: nn.Module, fine_tuned: nn.Module, noisy: np.ndarray
) -> StartComparison | None:
    """SURE of both 2D networks, and of their mixes where they share an architecture, on a
    sample of the normalised noisy (Z, Y, X) ``noisy``; None where it cannot be estimated (a
    window above 1, or a volume calibration refuses)."""
    if getattr(start, "window", 1) != 1 or getattr(fine_tuned, "window", 1) != 1:
        return None
    sample = _sample(noisy)
    try:
        with quiet_loggers(calibration.__name__):  # its caveats concern profiles, not this
            noise = RecorruptedTask.from_fit(calibration.calibrate_single(sample))
    except VemRestoreError as error:
        logger.info("fine-tuned model kept without a comparison with the start: %s", error)
        return None

    def psnr(model: nn.Module) -> float:
        rng = np.random.default_rng(_SEED)  # the same draws for every network
        return estimated_risk(_restorer(model), sample, noise.noise_like, rng=rng).psnr

    mixes = MIXED_SHARES if same_layout(start, fine_tuned) else ()
    return StartComparison(
        psnr(start),
        psnr(fine_tuned),
        tuple((share, psnr(mixed(start, fine_tuned, share))) for share in mixes),
    )


def same_layout(start: nn.Module, fine_tuned: nn.Module) -> bool:
    """Whether both hold the same parameter and buffer names, of the same shapes (so weights
    of one load into the other, and the two can be mixed)."""
    ours, theirs = start.state_dict(), fine_tuned.state_dict()
    return ours.keys() == theirs.keys() and all(
        ours[name].shape == theirs[name].shape for name in ours
    )


def mixed(start: nn.Module, fine_tuned: nn.Module, share: float) -> nn.Module:
    """A copy of ``fine_tuned`` whose floating-point weights are ``(1 − share)·start +
    share·fine_tuned`` (integer buffers, such as batch counters, are the fine-tuned ones)."""
    ours = start.state_dict()
    blended = {
        name: torch.lerp(ours[name].to(value), value, share) if value.is_floating_point() else value
        for name, value in fine_tuned.state_dict().items()
    }
    network = copy.deepcopy(fine_tuned)
    network.load_state_dict(blended)
    return network


def _sample(noisy: np.ndarray) -> np.ndarray:
    """Evenly spaced slices of ``noisy`` (centrally cropped when large), as the statistics of
    ``evaluate`` and ``calibrate`` read them, within the budget above; float64."""
    sample = plan_sample(noisy.shape, np.dtype(np.float32), max_bytes=_SAMPLE_BYTES)
    return np.asarray(noisy[list(sample.z), sample.y, sample.x], dtype=np.float64)


def _restorer(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """``model`` as a function of (Z, Y, X) float arrays, slice by slice, without gradients."""
    model = model.eval()
    parameter = next(model.parameters(), torch.empty(0))  # a parameter-free model: CPU

    def restore(volume: np.ndarray) -> np.ndarray:
        out = np.empty_like(volume)
        with torch.no_grad():
            for start in range(0, volume.shape[0], _SLICES_PER_BATCH):
                chunk = volume[start : start + _SLICES_PER_BATCH, np.newaxis]
                inputs = torch.from_numpy(chunk).to(parameter.device, parameter.dtype)
                out[start : start + len(chunk)] = model(inputs)[:, 0].double().cpu().numpy()
        return out

    return restore
