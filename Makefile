# The two commands of the README. Both create .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

# Execute every notebook with the default (mini) profile and build _build/html.
book: $(STAMP)
	$(BIN)/fairlab book --profile mini

# The test suite, which includes a smoke-profile build of the whole book (offline) and the
# headless-Chromium check of the built pages.
test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf _build
