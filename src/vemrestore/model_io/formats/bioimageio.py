"""bioimage.io model package (spec 0.5) built with ``bioimageio.spec``'s own description classes.

Tensor layout: input ``raw`` and output ``restored`` are (batch, z, y, x). The window's slices
are a fixed-size **space axis z**, not a channel axis: they are consecutive sections of one
volume, so consumers (bioimageio.core, ilastik, deepImageJ) can tile a 3D stack along z and
carry the z voxel size, instead of asking users to reshape sections into channels. y and x
are ``min = step = size_multiple`` of the network (sizes where its internal padding is a no-op).

Intensities: preprocessing reproduces the checkpoint's normalisation (dtype range →
``scale_linear``; percentile → ``scale_range`` per sample over z, y, x); for dtype-range
models postprocessing maps back to the input's intensity scale (``scale_linear``, float32
out, not rounded). The spec has no inverse of ``scale_range``, so percentile models output
normalised 0..1 values; both are stated in the package README.

Weights: TorchScript (the original entry) and ONNX (converted from it, only if it exports and
matches eager). The native vemrestore checkpoint is attached, so vemrestore reloads exactly
what was trained (``vemrestore.model_io.formats.load``).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import torch
from pydantic import ValidationError

from vemrestore.data.normalization import dtype_range
from vemrestore.errors import VemRestoreError
from vemrestore.io.atomic import atomic_output
from vemrestore.model_io.checkpoint import Checkpoint, save_checkpoint
from vemrestore.model_io.formats.common import (
    EXPORT_EXTRA_HINT,
    eager_output,
    model_window,
    require_module,
    size_multiple,
    tile_normalizer,
)
from vemrestore.model_io.formats.onnx import write_onnx
from vemrestore.model_io.formats.torchscript import write_torchscript
from vemrestore.version import __version__

logger = logging.getLogger(__name__)

NATIVE_CHECKPOINT_NAME = "vemrestore_checkpoint.pt"
INPUT_ID = "raw"
OUTPUT_ID = "restored"
TAGS = ["denoising", "restoration", "electron-microscopy", "volume-em", "3d", "vemrestore"]


def export_bioimageio(
    checkpoint: Checkpoint,
    out_path: Path,
    raw_tile: np.ndarray,
    overwrite: bool,
    authors: Sequence[str] = ("vemrestore user",),
    license_id: str = "CC-BY-4.0",
) -> Path:
    """Write a bioimage.io package that validates and passes ``bioimageio.core``'s model test.

    ``raw_tile``: (window, Y, X) raw intensities; its dtype is the package's input dtype.
    """
    require_module("bioimageio.spec", "bioimage.io export")
    require_module("bioimageio.core", "bioimage.io export")
    _check_spec_works_with_pydantic()
    with tempfile.TemporaryDirectory(prefix="vemrestore-bioimageio-") as folder:
        work = Path(folder)
        description = _describe(checkpoint, raw_tile, work, authors, license_id)
        with atomic_output(out_path, overwrite) as tmp:
            _package_and_test(description, tmp, work)
    return out_path


def _check_spec_works_with_pydantic() -> None:
    """bioimageio.spec < 0.5.14 cannot write packages under pydantic >= 2.14: say so plainly."""
    from importlib.metadata import version

    def release(package: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", version(package))[:3])

    if release("bioimageio.spec") < (0, 5, 14) and release("pydantic") >= (2, 14):
        raise VemRestoreError(
            f"bioimageio.spec {version('bioimageio.spec')} cannot write packages with pydantic "
            f"{version('pydantic')}; {EXPORT_EXTRA_HINT} (it pins pydantic<2.14)"
        )


def _describe(
    checkpoint: Checkpoint,
    raw_tile: np.ndarray,
    work: Path,
    authors: Sequence[str],
    license_id: str,
) -> Any:
    from bioimageio.spec.model import v0_5 as spec

    model = checkpoint.model
    window, multiple = model_window(model), size_multiple(model)
    normalizer = tile_normalizer(checkpoint.normalization, raw_tile)
    normalized_output = eager_output(model, normalizer.normalize(raw_tile)[None])
    restored = normalized_output * np.float32(normalizer.high - normalizer.low) + np.float32(
        normalizer.low
    )
    dtype_mode = checkpoint.normalization.mode == "dtype"
    # dtype-range packages output the input's intensity scale; percentile ones stay 0..1
    test_output = restored if dtype_mode else normalized_output
    np.save(work / "test_input.npy", raw_tile[None])
    np.save(work / "test_output.npy", test_output.astype(np.float32))
    _write_cover(work / "cover.png", raw_tile, restored[0])
    (work / "README.md").write_text(_readme(checkpoint, raw_tile.dtype), encoding="utf-8")

    torchscript_difference = write_torchscript(
        checkpoint, work / "weights.torchscript.pt", raw_tile, "bioimage.io weights"
    )
    weights: dict[str, Any] = {
        "torchscript": spec.TorchscriptWeightsDescr(
            source=work / "weights.torchscript.pt",
            pytorch_version=spec.Version(torch.__version__.split("+")[0]),
            comment=f"torch.jit.script; max |TorchScript - eager| {torchscript_difference:.2g}",
        )
    }
    try:
        onnx_difference, opset = write_onnx(
            checkpoint, work / "weights.onnx", raw_tile, "bioimage.io weights"
        )
    except VemRestoreError as error:
        logger.warning("bioimage.io package without ONNX weights: %s", error)
    else:
        weights["onnx"] = spec.OnnxWeightsDescr(
            source=work / "weights.onnx",
            opset_version=opset,
            parent="torchscript",
            comment=f"torch.onnx (dynamo); max |ONNX - eager| {onnx_difference:.2g}",
        )
    attachments = []
    if hasattr(model, "model_name"):
        save_checkpoint(
            work / NATIVE_CHECKPOINT_NAME, model, checkpoint.normalization, checkpoint.metadata
        )
        attachments.append(spec.FileDescr(source=work / NATIVE_CHECKPOINT_NAME))
    else:
        logger.warning("model not built by create_model: no native checkpoint attached")

    def spatial(kind: Any, axis: str, size: Any) -> Any:
        return kind(id=spec.AxisId(axis), size=size)

    parameterized = spec.ParameterizedSize(min=multiple, step=multiple)
    input_axes = [
        spec.BatchAxis(),
        spatial(spec.SpaceInputAxis, "z", window),
        spatial(spec.SpaceInputAxis, "y", parameterized),
        spatial(spec.SpaceInputAxis, "x", parameterized),
    ]
    output_axes = [spec.BatchAxis(), spatial(spec.SpaceOutputAxis, "z", window)] + [
        spatial(
            spec.SpaceOutputAxis,
            axis,
            spec.SizeReference(tensor_id=spec.TensorId(INPUT_ID), axis_id=spec.AxisId(axis)),
        )
        for axis in ("y", "x")
    ]
    preprocessing, postprocessing = _intensity_steps(spec, checkpoint, raw_tile.dtype)
    try:
        return spec.ModelDescr(
            name=f"vemrestore {getattr(model, 'model_name', type(model).__name__)} window {window}",
            description="Restores noisy fast-scan volume electron microscopy "
            "(2.5D: a window of consecutive sections in, the same window restored out).",
            authors=[spec.Author(name=name) for name in authors],
            license=license_id,
            tags=TAGS,
            documentation=spec.FileDescr(source=work / "README.md"),
            covers=[spec.FileDescr(source=work / "cover.png")],
            attachments=attachments,
            inputs=[
                spec.InputTensorDescr(
                    id=spec.TensorId(INPUT_ID),
                    description=f"window of {window} consecutive sections",
                    axes=input_axes,
                    data=spec.IntervalOrRatioDataDescr(type=str(raw_tile.dtype)),
                    test_tensor=spec.FileDescr(source=work / "test_input.npy"),
                    preprocessing=preprocessing,
                )
            ],
            outputs=[
                spec.OutputTensorDescr(
                    id=spec.TensorId(OUTPUT_ID),
                    description="restored window"
                    + (" (input intensity scale)" if dtype_mode else " (normalised 0..1)"),
                    axes=output_axes,
                    test_tensor=spec.FileDescr(source=work / "test_output.npy"),
                    postprocessing=postprocessing,
                )
            ],
            weights=spec.WeightsDescr(**weights),
        )
    except ValidationError as error:
        raise VemRestoreError(f"cannot describe this model for bioimage.io: {error}") from None


def _intensity_steps(spec: Any, checkpoint: Checkpoint, dtype: np.dtype) -> tuple[list, list]:
    """Pre- and postprocessing equal to the checkpoint's normalisation and its inverse.

    bioimage.io casts back to the input dtype after preprocessing unless told otherwise, so
    both ends of preprocessing say float32 explicitly.
    """
    to_float = spec.EnsureDtypeDescr(kwargs=spec.EnsureDtypeKwargs(dtype="float32"))
    normalization = checkpoint.normalization
    if normalization.mode == "percentile":
        scale = spec.ScaleRangeDescr(
            kwargs=spec.ScaleRangeKwargs(
                axes=[spec.AxisId(a) for a in ("z", "y", "x")],
                min_percentile=normalization.low_percentile,
                max_percentile=normalization.high_percentile,
            )
        )
        return [to_float, scale, to_float], []
    low, high = dtype_range(dtype)
    if (low, high) == (0.0, 1.0):  # float data are used as they are
        return [to_float], []
    forward = spec.ScaleLinearKwargs(gain=1.0 / (high - low), offset=-low / (high - low))
    inverse = spec.ScaleLinearKwargs(gain=high - low, offset=low)
    return (
        [to_float, spec.ScaleLinearDescr(kwargs=forward), to_float],
        [spec.ScaleLinearDescr(kwargs=inverse)],
    )


def _package_and_test(description: Any, out_path: Path, work: Path) -> None:
    """Zip the package, re-read it with the spec validator, run bioimageio.core's model test."""
    from bioimageio.core import test_model
    from bioimageio.spec import load_model_description, save_bioimageio_package

    save_bioimageio_package(description, output_path=out_path)
    reloaded = load_model_description(out_path, perform_io_checks=True)
    summary = test_model(reloaded, working_dir=work)
    if summary.status != "passed":
        raise VemRestoreError(
            f"{out_path.name}: bioimage.io model test failed, package not written: "
            + _failures(summary)
        )
    logger.info("bioimage.io package validated and tested: %s", summary.status)


def _failures(summary: Any) -> str:
    problems = [
        f"{detail.name}: {error.msg}" for detail in summary.details for error in detail.errors
    ]
    return "; ".join(problems) or summary.status


def _write_cover(path: Path, raw: np.ndarray, restored: np.ndarray) -> None:
    """Middle section, input | restored (same contrast), side by side: the 2:1 card image."""
    middle = raw.shape[0] // 2
    display_low, display_high = np.percentile(raw[middle], [0.5, 99.5])

    def to_uint8(image: np.ndarray) -> np.ndarray:
        scaled = (image.astype(np.float32) - display_low) / max(display_high - display_low, 1e-6)
        return np.clip(np.rint(scaled * 255.0), 0, 255).astype(np.uint8)

    iio.imwrite(path, np.concatenate([to_uint8(raw[middle]), to_uint8(restored[middle])], axis=1))


def _readme(checkpoint: Checkpoint, dtype: np.dtype) -> str:
    model = checkpoint.model
    normalization = checkpoint.normalization
    if normalization.mode == "dtype":
        intensity = (
            f"Input {dtype} is divided by its dtype range before the network; the output is "
            "mapped back to that range as float32 (round and clip to cast it back)."
        )
    else:
        intensity = (
            f"Each input window is mapped from its {normalization.low_percentile} to "
            f"{normalization.high_percentile} percentile to 0..1; the output stays in that "
            "normalised scale (bioimage.io has no inverse of scale_range). vemrestore itself "
            "fits the percentiles on the whole volume and inverts them."
        )
    return f"""# vemrestore restoration model

Restores noisy fast-scan volume electron microscopy. Network
`{getattr(model, "model_name", type(model).__name__)}` with parameters
`{getattr(model, "model_params", {})}`, exported by vemrestore {__version__}.

## Input and output

Tensors are (batch, z, y, x): z is a window of exactly {model_window(model)} consecutive
sections; y and x are any multiple of {size_multiple(model)}. Restore a whole volume by sliding
the window along z with overlap and keeping the middle sections (vemrestore does this).

{intensity}

## Use with vemrestore

    vemrestore denoise scan.tif restored.tif --model this-package.zip

The attached `{NATIVE_CHECKPOINT_NAME}` is the native checkpoint (exact normalisation and
training metadata).
"""
