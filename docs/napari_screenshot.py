"""Make the README's napari screenshot: the demo pair loaded and the fast scan restored with the
default model through the plugin's Restore widget. Run under an X server, e.g.
``make screenshot`` (which uses ``xvfb-run``); writes docs/napari_plugin.png by default."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

OUTPUT = Path(__file__).parent / "napari_plugin.png"


def main(output: Path = OUTPUT) -> Path:
    viewer = napari.Viewer(title="vemrestore")
    viewer.window._qt_window.resize(1500, 820)
    viewer.open_sample("vemrestore", "demo_pair")
    _, restore = viewer.window.add_plugin_dock_widget("vemrestore", "Restore")
    restore._image.value = viewer.layers["demo fast"]
    restore.start()
    started = time.monotonic()
    while restore.worker is not None and time.monotonic() - started < 600:
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.layers["demo slow"].visible = False
    viewer.grid.enabled = True
    viewer.dims.set_point(0, 8 * 40.0)
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.screenshot(str(output), canvas_only=False)
    viewer.close()
    return output


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT))
