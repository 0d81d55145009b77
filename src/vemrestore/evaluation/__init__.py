"""Image-quality metrics (PSNR/SSIM/FRC), noise inspection, evaluation reports and figures."""

from vemrestore.evaluation.frc import THRESHOLD, FRCCurve, checkerboard_frc, frc, mean_curve
from vemrestore.evaluation.quality import Evaluation, evaluate, resolution
from vemrestore.evaluation.scores import Scores, default_data_range, volume_quality

__all__ = [
    "THRESHOLD",
    "Evaluation",
    "FRCCurve",
    "Scores",
    "checkerboard_frc",
    "default_data_range",
    "evaluate",
    "frc",
    "mean_curve",
    "resolution",
    "volume_quality",
]
