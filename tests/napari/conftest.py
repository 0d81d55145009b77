"""napari plugin tests drive a real Viewer. They need napari (``pip install -e .[dev]``) and a
display: on Linux the dev extra's pytest-xvfb starts a virtual X server (``Xvfb``, which
``.ci/run`` installs). Without napari they are skipped; without a display they fail."""

import os

import pytest

pytest.importorskip("napari", reason="napari is not installed (pip install -e '.[napari]')")


@pytest.fixture(autouse=True)
def _display_available():
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        pytest.fail("no display: install Xvfb (apt-get install xvfb) so pytest-xvfb can start one")
