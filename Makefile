# Every target sets up what it needs itself: a fresh clone needs only `make demo` or `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-min lint typecheck bench lab e2e clean

# The demo needs the package alone (polars, httpx, pandera, tqdm, starlette, uvicorn);
# the tests need the dev extra too (JupyterLab, mypy, ruff, hypothesis, nbval: ~900 MB).
# pip is not quiet here: a first install takes a while, and the terminal shows what it does.
DEMO_STAMP := $(VENV)/.demo-stamp

$(PY):
	@echo "== Creating a virtual environment in $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(PY)
	@echo "== Installing qxframe and what it needs to run (no dev tools) into $(VENV)"
	$(PY) -m pip install --disable-pip-version-check -e .
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(PY)
	@echo "== Installing qxframe with its dev extra (tests, notebooks, linters) into $(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar off -e '.[dev]'
	touch $(DEMO_STAMP) $(STAMP)

install: $(STAMP)

demo: $(DEMO_STAMP)
	@echo "== Running the demo against the embedded sandbox (python -m qxframe.demo)"
	$(PY) -m qxframe.demo

# -n auto: one pytest worker per core; a notebook's cells stay on one worker (loadfile).
test: lint typecheck
	$(PY) -m pytest tests -n auto
	$(PY) -m pytest --doctest-modules --ignore=qxframe/__main__.py qxframe
	$(PY) -m pytest --nbval-lax -p no:randomly -n auto --dist loadfile notebooks/

# The test suite with every dependency at the lowest version pyproject.toml declares
# (.ci/min_constraints.py pins each floor; --check proves they are what got installed).
MIN_VENV  := .venv-min
MIN_PY    := $(MIN_VENV)/bin/python
MIN_STAMP := $(MIN_VENV)/.installed-stamp

$(MIN_STAMP): pyproject.toml .ci/min_constraints.py
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_PY) -m pip install --quiet --upgrade pip
	$(PYTHON) .ci/min_constraints.py > $(MIN_VENV)/constraints.txt
	$(MIN_PY) -m pip install --quiet -c $(MIN_VENV)/constraints.txt -e '.[dev]'
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_PY) .ci/min_constraints.py --check
	$(MIN_PY) -m pytest tests -n auto -W error::polars.exceptions.PerformanceWarning \
		-W "error:pandera requires:UserWarning"

lint: $(STAMP)
	$(VENV)/bin/ruff check qxframe tests bench
	$(VENV)/bin/ruff format --check qxframe tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) -m bench

.PHONY: bench-quick
bench-quick: $(STAMP)
	$(PY) -m bench --quick

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 notebooks/

# Real-browser check of the notebook widgets: JupyterLab + headless Chromium (Debian's
# package, driven by the `playwright` package from the `e2e` extra; never `playwright install`).
CHROMIUM  := /usr/bin/chromium
E2E_STAMP := $(VENV)/.e2e-stamp

.PHONY: e2e-setup

$(E2E_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,e2e]'
	touch $(E2E_STAMP)

e2e-setup:
	@if [ ! -x $(CHROMIUM) ]; then \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y chromium; \
	fi

e2e: $(E2E_STAMP) e2e-setup
	$(PY) tests/e2e/run_e2e.py

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache .mypy_cache .ruff_cache
