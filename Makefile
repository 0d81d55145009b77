# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch, installed before the project so pip does not pull a multi-GB CUDA build.
# On a GPU workstation: make TORCH_SPEC="torch>=2.4" ...
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
# The napari plugin tests drive a real viewer; pytest-xvfb runs it on a virtual X server (Xvfb),
# installed here on Debian/Ubuntu when missing (with the GL and xcb libraries Qt needs).
XVFB_PACKAGES := xvfb libgl1-mesa-dri libegl1 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 \
	libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0 libxcb-xfixes0 \
	libxcb-shape0 libxcb-cursor0 libdbus-1-3 libfontconfig1
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: setup display demo test lint bench screenshot clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

demo: setup
	mkdir -p demo-output
	$(BIN)/vemrestore info demo/fibsem_fast_16x256x256.tif
	$(BIN)/vemrestore denoise demo/fibsem_fast_16x256x256.tif demo-output/restored.tif --overwrite
	$(BIN)/vemrestore evaluate demo-output/restored.tif --reference demo/fibsem_slow_16x256x256.tif \
		--input demo/fibsem_fast_16x256x256.tif --model src/vemrestore/pretrained/generalist_unet2p5d.pt \
		-o demo-output/report --overwrite

display:
	@command -v Xvfb >/dev/null || ! command -v apt-get >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(XVFB_PACKAGES) >/dev/null; }

test: setup display
	$(BIN)/python -m pytest

screenshot: setup display
	xvfb-run -a -s "-screen 0 1600x900x24" $(BIN)/python docs/napari_screenshot.py

lint: setup
	$(BIN)/ruff check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
