# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HVD_STAMP := $(VENV)/.horovod
CORES   ?= 2
# Rules call the `cycleaug` console script: put the venv first on PATH for every recipe.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test bench venv horovod lint clean-demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch/torchvision are pinned in pyproject.toml; pip takes them from this machine's disk.
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Horovod (Gloo, CPU) is built once per machine and cached outside the repo (see tools/install_horovod.sh).
$(HVD_STAMP): $(STAMP) tools/install_horovod.sh
	bash tools/install_horovod.sh $(BIN)/python
	@touch $@

horovod: $(HVD_STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --profile profiles/demo --cores $(CORES)
	$(BIN)/snakemake --profile profiles/demo --cores $(CORES) --report results/report.html

# One pytest worker per core, a test file per worker at a time (module fixtures are built once; files
# with a slow test are handed out first, tests/conftest.py).
test: $(STAMP) $(HVD_STAMP)
	$(BIN)/python -m pytest -q -n $(CORES) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/lint_workflow.py --profile profiles/demo
	$(BIN)/snakefmt --check Snakefile workflow/rules

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean-demo:
	rm -rf data results logs benchmarks
