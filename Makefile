# Two commands set up a fresh machine: `make demo` and `make test`. Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# CPU route (default): torch from the CPU build, pufferlib-core compiled from its sdist against it.
# GPU route: `make install TORCH_VERSION=2.9.0 PUFFERLIB=wheel` (CUDA torch + the published wheel).
TORCH_VERSION ?= 2.13.0
PUFFERLIB_VERSION := 3.0.23
PUFFERLIB ?= source
WHEELS := .cache/wheels
STAMP := $(VENV)/.daf-installed

export OMP_NUM_THREADS ?= 1

.PHONY: install browser demo test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel setuptools_scm

$(STAMP): $(PY) pyproject.toml Makefile
	$(PIP) install -q "torch==$(TORCH_VERSION)" numpy gymnasium psutil rich rich-argparse einops nvidia-ml-py pyro-ppl
ifeq ($(PUFFERLIB),wheel)
	$(PIP) install -q --no-deps "pufferlib-core==$(PUFFERLIB_VERSION)"
else
	@mkdir -p $(WHEELS)
	@ls $(WHEELS)/pufferlib_core-$(PUFFERLIB_VERSION)-*.whl >/dev/null 2>&1 || \
	  PUFFERLIB_DISABLE_CUDA=1 $(PIP) wheel -q --no-deps --no-build-isolation --no-binary pufferlib-core \
	    -w $(WHEELS) "pufferlib-core==$(PUFFERLIB_VERSION)"
	$(PIP) install -q --no-deps --force-reinstall $(WHEELS)/pufferlib_core-$(PUFFERLIB_VERSION)-*.whl
endif
	$(PIP) install -q -e ".[dev]"
	$(PY) -c "import torch, pufferlib._C, cogames, mettagrid, dagster; print('DAF installed: torch', torch.__version__)"
	@touch $(STAMP)

install: $(STAMP)

# Debian's chromium, for the HTML report's browser test: installed when missing and this user may install
# system packages (root, or passwordless sudo); otherwise the test is skipped and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO=sudo; else SUDO=none; fi; \
	  if [ "$$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then \
	    $$SUDO apt-get install -y -q chromium >/dev/null || { $$SUDO apt-get update -q >/dev/null && \
	      $$SUDO apt-get install -y -q chromium >/dev/null; } || echo "could not install chromium"; \
	  else echo "chromium is not installed and this user cannot install system packages: the browser test will be skipped"; fi; }

DAGSTER_HOME_DIR := $(CURDIR)/.dagster_home

demo: install
	@mkdir -p $(DAGSTER_HOME_DIR) && cp dagster.yaml $(DAGSTER_HOME_DIR)/dagster.yaml
	DAGSTER_HOME=$(DAGSTER_HOME_DIR) $(VENV)/bin/dagster job execute -m daf_dagster.definitions -j quickstart_job \
	  -c configs/dagster/quickstart_job.yaml
	@DAGSTER_HOME=$(DAGSTER_HOME_DIR) $(PY) -m daf_core.demo

# Test files are spread over TEST_WORKERS processes (pytest-xdist), each file whole in one worker, so
# module fixtures are shared as written; TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2

test: install browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=30

lint: install
	$(VENV)/bin/ruff check daf_core daf_dagster tests bench

#: `make bench` runs every benchmark on the README's work and rewrites its tables (about 50 minutes on 2
#: cores); `make bench BENCH_MODE=quick` runs them on tiny work into bench/results/quick/, one per core at a time (under 2 minutes).
BENCH_MODE ?= full

bench: install
	OMP_NUM_THREADS=1 $(PY) bench/run_all.py --mode $(BENCH_MODE)

clean:
	rm -rf $(VENV) .cache daf_output
