"""Fast-scan simulation, noise calibration and the acquisition planner (numpy in, numpy out).

File-level entry points (what the CLI calls) live in ``vemrestore.api.analysis``.
"""

from vemrestore.simulate.calibration import CalibrationFit, calibrate_pair, calibrate_single
from vemrestore.simulate.noise import simulate_fast_scan
from vemrestore.simulate.planner import (
    AcquisitionTime,
    Plan,
    PlanRow,
    Restorer,
    acquisition_time,
    plan_acquisition,
)
from vemrestore.simulate.profile import NoiseProfile, load_profile, save_profile

__all__ = [
    "AcquisitionTime",
    "CalibrationFit",
    "NoiseProfile",
    "Plan",
    "PlanRow",
    "Restorer",
    "acquisition_time",
    "calibrate_pair",
    "calibrate_single",
    "load_profile",
    "plan_acquisition",
    "save_profile",
    "simulate_fast_scan",
]
