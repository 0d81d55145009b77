# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU build of PyTorch, installed before the project so pip does not pull a multi-GB CUDA build.
# On a GPU workstation: make TORCH_SPEC="torch>=2.4" ...
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench clean

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

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check src tests benchmarks

bench: setup
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
