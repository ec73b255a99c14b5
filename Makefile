# `make demo` and `make test` set everything up from a fresh clone (Python 3.11+ only).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# Keep the demo and the tests away from the user's real data home unless told otherwise.
export SECAI_HOME ?= $(CURDIR)/.secai-home

SCANNERS_VENV := .venv-scanners
CODEMOD_VENV := .venv-codemodder

.PHONY: setup system-deps model scanners lint test demo bench lock clean

# Every dependency comes hash-pinned from requirements/dev.txt (make lock writes it); secai itself
# is then installed without resolving anything.
$(BIN)/.installed: pyproject.toml requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "secai needs Python 3.11 or newer (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# Optional speed-ups and lint tools from the OS (Linux + apt + root only; skipped elsewhere).
# OpenBLAS makes float32 MLX on a CPU much faster; shellcheck lints runner/setup-macos.sh.
system-deps:
	@if [ "$$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  if ! ldconfig -p | grep -q 'libopenblas.so.0' || ! command -v shellcheck >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread shellcheck >/dev/null) \
	      || echo "note: could not install libopenblas0-pthread/shellcheck; continuing without them"; \
	  fi; \
	fi

setup: $(BIN)/.installed system-deps

model: setup
	$(BIN)/secai-runner model pull embedded

# The real scanners (requirements/scanners.in, hash-pinned in scanners.txt) in their own venv:
# fix verification, history mining and the tests.
$(SCANNERS_VENV)/.installed: requirements/scanners.txt
	$(PYTHON) -m venv $(SCANNERS_VENV)
	$(SCANNERS_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/scanners.txt
	@touch $@

# Pixee's codemodder (the codemod fix provider) in a venv of its own: its packaging pin clashes with checkov's.
$(CODEMOD_VENV)/.installed: requirements/codemodder.txt
	$(PYTHON) -m venv $(CODEMOD_VENV)
	$(CODEMOD_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/codemodder.txt
	@touch $@

scanners: $(SCANNERS_VENV)/.installed $(CODEMOD_VENV)/.installed

lint: setup
	$(BIN)/ruff check secai tests bench
	$(BIN)/ruff format --check secai tests bench

# In-process model tests get the BLAS the CLI re-executes itself with (Linux with OpenBLAS only).
test: lint model scanners
	LD_PRELOAD="$$($(PY) -c 'from secai.model.cpu.openblas import find_openblas; print(find_openblas() or "")')" \
		$(PY) -m pytest -q

# The demo repository (examples/history/build.py: 256 commits ending in examples/vulnerable-app) is
# rebuilt each time, and the run starts fresh; scanners and codemodder come from their venvs.
DEMO_REPO := $(SECAI_HOME)/demo/vulnerable-app
DEMO_RUN  := $(SECAI_HOME)/runs/demo
demo: model scanners
	rm -rf $(DEMO_REPO) $(DEMO_RUN)
	$(PY) examples/history/build.py $(DEMO_REPO)
	PATH="$(CURDIR)/$(SCANNERS_VENV)/bin:$(CURDIR)/$(CODEMOD_VENV)/bin:$$PATH" $(BIN)/secai-runner \
		--config examples/demo.yaml run --artifacts examples/artifacts --source $(DEMO_REPO) \
		--alerts examples/code-scanning-alerts.json --branch main --repo-name example/vulnerable-app \
		--out $(DEMO_RUN) || { rc=$$?; [ $$rc -eq 3 ] && echo "note: the model gate failed (exit 3): this adapter would not be published; eval.json and validation.json say why"; [ $$rc -eq 3 ]; }
	@echo "run folder: $(DEMO_RUN) (comment.md there is what a pull request would show)"

bench: model
	$(PY) bench/parse.py
	$(PY) bench/train.py
	$(PY) bench/mine.py
	$(PY) bench/fix.py
	$(PY) bench/fix_generate.py

# Hash-pinned requirements for every platform: collect.txt (the action's collect step), runner.txt
# (the self-hosted runner: + ml), dev.txt (make test, CI: + ml, dev). Run after changing
# pyproject.toml's dependencies, then commit the files.
LOCK = $(BIN)/uv pip compile pyproject.toml requirements/build.in --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"
lock: setup
	$(LOCK) -o requirements/collect.txt
	$(LOCK) --extra ml -o requirements/runner.txt
	$(LOCK) --extra ml --extra dev -o requirements/dev.txt
	$(BIN)/uv pip compile requirements/scanners.in --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o requirements/scanners.txt
	$(BIN)/uv pip compile requirements/codemodder.in --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command "make lock" -o requirements/codemodder.txt

clean:
	rm -rf $(VENV) $(SCANNERS_VENV) $(CODEMOD_VENV) .secai-home .pytest_cache
