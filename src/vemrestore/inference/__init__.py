"""Whole-volume inference: device handling and the tiled, pipelined streaming engine."""

from vemrestore.inference.engine import gather_slices, restore_slices
from vemrestore.inference.pipeline import StageTimes
from vemrestore.inference.predictor import Predictor, select_device

__all__ = ["Predictor", "StageTimes", "gather_slices", "restore_slices", "select_device"]
