"""The one place that owns the device: placement, eval mode, no-grad, mixed precision, numpy."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np
import torch
from torch import nn

from vemrestore.config.inference import DEFAULT_BATCH_SIZE, InferenceConfig
from vemrestore.errors import VemRestoreError

logger = logging.getLogger(__name__)

AmpDtype = Literal["float16", "bfloat16"]

AUTO_BATCH_MEMORY_SHARE = 0.5
"""Share of the free device memory an automatically sized batch may take (room for the rest)."""

AUTO_BATCH_LIMIT = 64
"""Most tiles per call an automatically sized batch gets: beyond this a GPU gains nothing."""


def select_device(requested: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; an explicit device must exist."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise VemRestoreError(
            f"--device {requested}: not a device name (use auto, cpu, cuda, cuda:N or mps)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VemRestoreError(f"--device {requested}: no CUDA GPU is available on this machine")
    if device.type == "cuda" and device.index is not None:
        if device.index >= torch.cuda.device_count():
            raise VemRestoreError(
                f"--device {requested}: only {torch.cuda.device_count()} CUDA GPU(s) present"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise VemRestoreError(f"--device {requested}: Apple MPS is not available on this machine")
    return device


def _convolves_planes(model: nn.Module) -> bool:
    """Whether channels-last can speed ``model`` up: it has 2D convolution weights (4-D) and
    no 3D ones (5-D weights have no channels-last form). A model without convolutions would
    only pay for the layout change."""
    ranks = {tensor.dim() for tensor in (*model.parameters(), *model.buffers())}
    return 4 in ranks and 5 not in ranks


class Predictor:
    """Runs a model on batches: (B, D, H, W) float32 in, the same shape float32 out.

    ``predict`` takes and returns tensors on ``device`` (the engine keeps tiles there);
    calling the predictor takes and returns numpy arrays. Mixed precision (``amp_dtype``
    autocast) is on by default on CUDA, where it roughly doubles throughput; the network's
    global residual is added in float32, so precision is kept. ``channels_last`` stores
    activations pixel-major (None: on CPU, where oneDNN's convolutions run faster that way;
    the numbers differ from the default layout in the last bits, and as before do not
    depend on the thread count or batch size); ``torch_compile`` runs the
    network through ``torch.compile`` (a slow first call, then fused kernels).

    A CUDA out-of-memory error halves the tiles per network call, says so once on stderr
    (a logging warning) and retries; every later call uses the smaller size, padded so all
    calls keep one size.
    """

    def __init__(
        self,
        model: nn.Module,
        device: str = "auto",
        amp: bool | None = None,
        *,
        amp_dtype: AmpDtype = "float16",
        channels_last: bool | None = None,
        torch_compile: bool = False,
    ) -> None:
        self.device = select_device(device)
        self.amp = self.device.type == "cuda" if amp is None else amp
        self.amp_dtype = getattr(torch, amp_dtype)
        if channels_last is None:
            channels_last = self.device.type == "cpu" and _convolves_planes(model)
        self.channels_last = channels_last
        self.model = model.to(self.device).eval()
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self._network = torch.compile(self.model) if torch_compile else self.model
        self.max_call_size: int | None = None
        """Tiles per network call after an out-of-memory retry; None: as many as given."""

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
        return self.predict(self.upload(inputs)).cpu().numpy()

    def upload(self, tensor: torch.Tensor) -> torch.Tensor:
        """A host tensor on the device; from pinned memory and asynchronous on CUDA."""
        if self.device.type == "cuda" and tensor.device.type == "cpu":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def predict(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, D, H, W) float32 on the device -> float32 on the device, in calls of equal size."""
        size = min(self.max_call_size or len(batch), len(batch))
        outputs: list[torch.Tensor] = []
        start = 0
        while start < len(batch):
            chunk = batch[start : start + size]
            padded = chunk
            if len(chunk) < size:  # the last chunk: repeat its last tile, keep the call size
                padded = torch.cat([chunk, chunk[-1:].expand(size - len(chunk), *chunk.shape[1:])])
            try:
                outputs.append(self._forward(padded)[: len(chunk)])
            except torch.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2
                self.max_call_size = size
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                logger.warning(
                    "out of memory on %s: retrying with %d tiles per network call "
                    "(use a smaller --batch-size to avoid this)",
                    self.device,
                    size,
                )
                continue
            start += len(chunk)
        return outputs[0] if len(outputs) == 1 else torch.cat(outputs)

    @classmethod
    def from_config(
        cls, model: nn.Module, config: InferenceConfig, device: str | None = None
    ) -> Predictor:
        """The predictor ``config`` asks for (``device`` overrides ``config.device``)."""
        return cls(
            model,
            device or config.device,
            config.amp,
            amp_dtype=config.amp_dtype,
            channels_last=config.channels_last,
            torch_compile=config.torch_compile,
        )

    def batch_size(self, requested: int | None, tile: tuple[int, int, int]) -> int:
        """``requested``, or if None: tiles per call that fit half the free GPU memory.

        On CUDA one (D, H, W) ``tile`` is run to measure the peak memory a tile takes; the
        batch is what half the free memory holds, at most ``AUTO_BATCH_LIMIT``. Elsewhere
        ``DEFAULT_BATCH_SIZE``.
        """
        if requested is not None:
            return requested
        if self.device.type != "cuda":
            return DEFAULT_BATCH_SIZE
        torch.cuda.synchronize(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        before = torch.cuda.memory_allocated(self.device)
        self._forward(torch.zeros((1, *tile), device=self.device))
        per_tile = max(1, torch.cuda.max_memory_allocated(self.device) - before)
        free, _ = torch.cuda.mem_get_info(self.device)
        return int(max(1, min(AUTO_BATCH_LIMIT, AUTO_BATCH_MEMORY_SHARE * free // per_tile)))

    def _forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp),
        ):
            outputs = self._network(inputs)
        if outputs.shape != inputs.shape:
            raise RuntimeError(
                f"model returned shape {tuple(outputs.shape)} for input {tuple(inputs.shape)}"
            )
        return outputs.float()
