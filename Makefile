# The two commands of the README. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test test-parallel test-paper-path test-py312 bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,diffusion,test]"
	@touch $(STAMP)

# Execute every notebook with the default (mini) profile and build _build/html.
book: $(STAMP)
	$(BIN)/fairlab book --profile mini

# The test suite, which includes a smoke-profile build of the whole book (offline) and the
# headless-Chromium check of the built pages.
test: $(STAMP)
	$(BIN)/python -m pytest

# The smoke book built again on two jobs (concurrent chapters, plan workers), compared record by
# record with the sequential build; CI runs it after make test (it takes about as long as the book).
test-parallel: $(STAMP)
	$(BIN)/python -m pytest -m parallel_book

# The third paper's chapter on the Stable Diffusion path (the paper's perception read from a folder), end to end on
# tiny random networks: one run and its evaluation, then the original model's and six runs' records and the tables
# (about 30 s on a quiet 2-core machine); CI runs it after make test.
test-paper-path: $(STAMP)
	$(BIN)/python -m pytest -m paper_path

# The wheel installed with its core dependencies into a fresh Python 3.12 environment (downloads torch: a few GB
# and minutes); CI runs it. Skipped where no python3.12 is found (PATH or pyenv).
test-py312: $(STAMP)
	$(BIN)/python -m pytest -m python312

# Each benchmark times a fairlab path against its reference in the same run, prints the ratio and
# the device, and writes benchmarks/results/<name>.json (shown on the book's execution page).
# On a GPU machine: make bench BENCH_DEVICE=cuda
BENCH_DEVICE ?= cpu
bench: $(STAMP)
	cd benchmarks && for script in bench_*.py; do ../$(BIN)/python $$script --device $(BENCH_DEVICE) || exit 1; done

clean:
	rm -rf _build
