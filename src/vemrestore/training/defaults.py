"""Settings chosen from the data: validation axis and patch size.

A config leaves them open (``validation.axis: auto``, ``patch_size: null``) and
``resolve_for_data`` fills them from the shapes of the training volumes and the task's source
window, so one default config trains a single 2D image, a thin stack and a small volume in
every mode:

- **validation axis**: z when every volume holds a training and a held-out window along z,
  else the in-plane axis that allows the larger patch (a 1×768×768 image: y);
- **patch size**: the largest multiple of 8 up to 128 px whose source window fits both
  regions (self-supervised and key-slice tasks read 2×2 sub-lattices, so twice that: a
  3×200×300 key-slice stack with period 2 holds out along x with 72 px patches).

Key-slice training needs at least period + 1 slices; fewer is refused with what is needed.
A value the user set is kept; the resolved config is what the run folder records.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from vemrestore.config.training import TrainingConfig
from vemrestore.data.patches import holds_split
from vemrestore.errors import VemRestoreError

logger = logging.getLogger(__name__)

DEFAULT_PATCH = 128
PATCH_STEP = 8
Shape = tuple[int, int, int]
SourceExtent = Callable[[int, tuple[int, int]], Shape]


def resolve_for_data(
    config: TrainingConfig, shapes: Sequence[Shape], source_extent: SourceExtent
) -> TrainingConfig:
    """``config`` (resolved for its task) with the validation axis and patch size chosen for
    volumes of ``shapes`` ((Z, Y, X) as loaded, before any z mirroring); ``source_extent`` is
    the task's ``(window, patch) -> (z, y, x)`` read per patch."""
    if not shapes:
        raise VemRestoreError("no training volumes")
    window = config.model.window
    if config.self_supervised is not None:  # thin noisy volumes are mirrored up to the window
        shapes = [(max(z, window), y, x) for z, y, x in shapes]
    depth = min(shape[0] for shape in shapes)
    if config.key_slices is not None and depth < window:
        raise VemRestoreError(
            f"key-slice training with period {config.key_slices.period} needs volumes of at "
            f"least {window} slices (two key slices and the fast slices between them); the "
            f"thinnest has {depth}. Use a shorter period or supervised training"
        )
    fraction = config.validation.fraction
    axes = ("z", "y", "x") if config.validation.axis == "auto" else (config.validation.axis,)
    candidates = (
        [config.patch_size]
        if config.patch_size
        else [(p, p) for p in range(DEFAULT_PATCH, PATCH_STEP - 1, -PATCH_STEP)]
    )
    choices = []
    for axis in axes:
        for patch in candidates:
            extent = source_extent(window, patch)
            if all(holds_split(shape, extent, axis, fraction) for shape in shapes):
                choices.append((patch, axis))
                break
    if not choices:  # split_regions explains what does not fit
        axis = "z" if config.validation.axis == "auto" else config.validation.axis
        choices = [(config.patch_size or (PATCH_STEP, PATCH_STEP), axis)]
    patch, axis = max(choices, key=lambda choice: min(choice[0]))  # first (z) wins ties
    if config.validation.axis == "auto" and axis != "z":
        logger.info("validation held out along %s (too few slices along z)", axis)
    validation = config.validation.model_copy(update={"axis": axis})
    return config.model_copy(update={"validation": validation, "patch_size": patch})
