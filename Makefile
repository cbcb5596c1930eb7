# The README's Quick start: `make demo` and `make test`. Both create .venv if it is missing.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# pip on this machine warns about index folders that do not exist; keep the output readable.
QUIET_PIP := 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
EXTRAS := test,notebooks,video,3d
NOTEBOOKS := $(wildcard notebooks/*.ipynb)

PRESET ?= medium

.PHONY: demo test test-notebooks bench bench-tiling bench-video bench-3d figures clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The package alone (what `make demo` needs) ...
$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile -e . $(QUIET_PIP)
	touch $@

# ... and with every extra (what `make test` needs).
$(VENV)/.all: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --no-compile -e ".[$(EXTRAS)]" $(QUIET_PIP)
	touch $@ $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/python -m nstlib --image_size 256 --num_steps 100 --output_path outputs/demo.png

test: $(VENV)/.all
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -q tests
ifneq ($(NOTEBOOKS),)
	$(MAKE) --no-print-directory test-notebooks
endif

# Every notebook in quick mode, as a Colab or pip user runs it: copied into an empty temporary folder,
# against nstlib installed from its wheel into a fresh venv (scripts/wheelenv.py), NSTLIB_IMAGES unset,
# so nothing can lean on the checkout. One notebook: make test-notebooks NOTEBOOKS=notebooks/16_video.ipynb
test-notebooks: $(VENV)/.all
	unset NSTLIB_IMAGES PYTHONPATH; tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	python=$$($(BIN)/python scripts/wheelenv.py "$$tmp/env") && \
	mkdir "$$tmp/run" && cp $(NOTEBOOKS) "$$tmp/run" && cd "$$tmp/run" && \
	"$$python" -c 'import nstlib, sys; assert nstlib.__file__.startswith(sys.prefix + "/"), nstlib.__file__' && \
	NSTLIB_QUICK=1 "$$python" -m pytest -q --nbval-lax --nbval-current-env \
		-p no:cacheprovider $(notdir $(NOTEBOOKS))

bench: $(VENV)/.base
	$(BIN)/python -m nstlib.bench.gatys

# Peak memory against output size, whole image against tiles and checkpointing; tiled against whole-image loss (about 3 min on 2 CPU cores).
bench-tiling: $(VENV)/.base
	$(BIN)/python -m nstlib.bench.tiling --json outputs/tile_bench.json

# Video methods side by side: flicker (E_warp), style loss and seconds per frame (about 30 min on 2 CPU cores).
bench-video: $(VENV)/.all
	$(BIN)/python -m nstlib.bench.video --json outputs/video_bench.json

# 3D: texture-space Gatys against per-view Gatys and AdaIN back-projection on the torus and the teapot:
# consistency across views, style on held-out views, seconds per step (about 30 min on 2 CPU cores).
bench-3d: $(VENV)/.all
	$(BIN)/python -m nstlib.bench.mesh --json outputs/mesh_bench.json

# Instructors: re-execute every notebook in place at PRESET=medium|full and export the figures.
figures: $(VENV)/.all
	$(BIN)/python -m nstlib.course figures --preset $(PRESET)

clean:
	rm -rf $(VENV) outputs .pytest_cache
