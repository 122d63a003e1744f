# The two commands: `make demo` and `make test`. Both create .venv when it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
CORES   ?= 2
# Rules call the `cycleaug` console script: put the venv first on PATH for every recipe.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test bench venv system horovod lint clean-demo

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch/torchvision are pinned in pyproject.toml; pip takes them from this machine's disk.
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

# Debian packages the tests run for real: Open MPI, Slurm + munge, environment-modules (apt-get, as root;
# otherwise it says what is missing and those tests skip). Seconds when everything is there.
system:
	bash tools/install_system.sh

# Horovod (Gloo + MPI, CPU) is built once per machine and cached outside the repo (see
# tools/install_horovod.sh); after that this checks the installed build (MPI included when mpicxx is here).
horovod: $(STAMP) system
	bash tools/install_horovod.sh $(BIN)/python

demo: $(STAMP)
	$(BIN)/snakemake --profile profiles/demo --cores $(CORES)
	$(BIN)/snakemake --profile profiles/demo --cores $(CORES) --report results/report.html

# One pytest worker per core, a test file per worker at a time (module fixtures are built once; files
# with a slow test are handed out first, tests/conftest.py).
test: $(STAMP) system horovod
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
