"""Models and the noise profile shipped inside the package (see the model cards beside them).

``GENERALIST`` (``DEFAULT_MODEL``) restores fast scans when ``vemrestore denoise`` is given no
``--model``, and is where supervised and self-supervised training start from: trained on many
EM sources under a randomised family of fast-scan noise (``demo/train_generalist.py``).
``SUPERVISED`` was trained on ISBI 2012 alone with one noise profile; ``SELF_SUPERVISED`` from
noisy scans alone; ``REFERENCE_PROFILE`` is the SEM
noise profile the shipped models, the demo and the benchmarks simulate fast scans with.
All are made by ``demo/train_generalist.py``, ``demo/train_shipped_models.py`` and
``demo/make_demo_data.py``.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).parent
SUPERVISED = FOLDER / "supervised_unet2p5d.pt"
SELF_SUPERVISED = FOLDER / "self_supervised_unet2p5d.pt"
GENERALIST = FOLDER / "generalist_unet2p5d.pt"
REFERENCE_PROFILE = FOLDER / "sem_reference_profile.json"
DEFAULT_MODEL = GENERALIST
"""The model every entry point uses when none is named (CLI, ``watch``, the napari plugin)."""


def shipped_models() -> dict[str, Path]:
    """Every model shipped in the package, by file stem (e.g. ``supervised_unet2p5d``)."""
    return {path.stem: path for path in sorted(FOLDER.glob("*.pt"))}
