"""Whole-volume inference: device handling and the tiled, pipelined streaming engine."""

from vemrestore.inference.engine import restore_slices
from vemrestore.inference.pipeline import StageTimes
from vemrestore.inference.predictor import Predictor, select_device

__all__ = ["Predictor", "StageTimes", "restore_slices", "select_device"]
