# pdebug — developer tasks. `make` lists them.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: help install demo test fuzz check lint lint-assets typecheck golden bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

# The Python is checked before anything is created, and a .venv left by an earlier failed
# or older-Python install is rebuilt rather than reused (`make demo PY=python3.10` then
# `make demo` works). pdebug needs 3.11+.
PYCHECK := import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)

$(STAMP): pyproject.toml
	@$(PY) -c '$(PYCHECK)' 2>/dev/null || { \
	  echo "pdebug needs Python 3.11 or newer; '$(PY)' is $$($(PY) --version 2>&1 | head -1)." >&2; \
	  echo "hint: make demo PY=python3.12 (any python3.11+ on your PATH)" >&2; exit 1; }
	@if [ -e $(VENV) ] && ! $(BIN)/python -c '$(PYCHECK)' 2>/dev/null; then \
	  echo "removing $(VENV): it was not made by a working Python 3.11+"; rm -rf $(VENV); fi
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install pdebug with its dev tools

demo: $(STAMP)  ## run pdebug on the dumps shipped in fixtures/
	@echo '$$ pdebug all fixtures/real/sidecar/config_dump.json'
	@$(BIN)/pdebug all fixtures/real/sidecar/config_dump.json
	@echo
	@echo '$$ pdebug clusters fixtures/real/sidecar/config_dump.json -o wide'
	@$(BIN)/pdebug clusters fixtures/real/sidecar/config_dump.json -o wide
	@echo
	@echo '$$ pdebug endpoints fixtures/real/sidecar/config_dump.json --clusters-json fixtures/real/sidecar/clusters.json -o wide'
	@$(BIN)/pdebug endpoints fixtures/real/sidecar/config_dump.json --clusters-json fixtures/real/sidecar/clusters.json -o wide
	@echo
	@echo 'pdebug is installed in $(VENV). To type `pdebug` in your shell, either:'
	@echo '  . $(VENV)/bin/activate       # this shell (then: pdebug --help)'
	@echo '  pipx install .               # every shell, without the dev tools'

# The report page's linters (tools/lint/package-lock.json), installed with `npm ci`. `make test`
# installs them when npm is there and carries on without them when it is not (or when the
# registry cannot be reached): tests/test_report_assets.py then skips, saying why.
LINT_DIR   := tools/lint
LINT_STAMP := $(LINT_DIR)/node_modules/.installed
ASSETS     := pdebug/report/static

$(LINT_STAMP): $(LINT_DIR)/package-lock.json
	cd $(LINT_DIR) && { npm ci --no-audit --no-fund --fetch-retries=1 || { rm -rf node_modules; exit 1; }; }
	touch $(LINT_STAMP)

test: $(STAMP)  ## run the test suite (what CI runs)
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(LINT_STAMP) \
	  || echo "warning: npm ci failed; the report asset lint tests will be skipped" >&2; \
	else echo "note: npm not found; the report asset lint tests will be skipped" >&2; fi
	$(BIN)/pytest -q

fuzz: $(STAMP)  ## long seeded fuzz run (PDEBUG_FUZZ_CASES, PDEBUG_FUZZ_SEED, PDEBUG_FUZZ_BUDGET; PDEBUG_FUZZDIFF_*, PDEBUG_FUZZ10_*, PDEBUG_FUZZWIRE_*, PDEBUG_FUZZBUNDLE_*, PDEBUG_FUZZ12_*)
	PDEBUG_FUZZ_CASES=$${PDEBUG_FUZZ_CASES:-600} PDEBUG_FUZZ_BUDGET=$${PDEBUG_FUZZ_BUDGET:-1800} \
		$(BIN)/pytest -q tests/test_fuzz.py tests/test_fuzz_http.py
	PDEBUG_FUZZ10_CASES=$${PDEBUG_FUZZ10_CASES:-400} PDEBUG_FUZZ10_BUDGET=$${PDEBUG_FUZZ10_BUDGET:-300} \
		$(BIN)/pytest -q tests/test_fuzz10.py
	PDEBUG_FUZZDIFF_CASES=$${PDEBUG_FUZZDIFF_CASES:-2000} PDEBUG_FUZZDIFF_BUDGET=$${PDEBUG_FUZZDIFF_BUDGET:-900} \
		$(BIN)/pytest -q tests/test_fuzz_fastpaths.py
	PDEBUG_FUZZUNREAD_ROUNDS=$${PDEBUG_FUZZUNREAD_ROUNDS:-40} PDEBUG_FUZZUNREAD_BUDGET=$${PDEBUG_FUZZUNREAD_BUDGET:-600} \
		$(BIN)/pytest -q tests/test_fuzz_unread.py
	PDEBUG_FUZZWIRE_CASES=$${PDEBUG_FUZZWIRE_CASES:-3000} PDEBUG_FUZZWIRE_BUDGET=$${PDEBUG_FUZZWIRE_BUDGET:-600} \
		$(BIN)/pytest -q tests/test_fuzz_wire.py
	PDEBUG_FUZZBUNDLE_SEEDS=$${PDEBUG_FUZZBUNDLE_SEEDS:-1000} \
		$(BIN)/pytest -q tests/test_bundle_hostile.py tests/test_bugreport.py -k seeded
	PDEBUG_FUZZ12_CASES=$${PDEBUG_FUZZ12_CASES:-3000} PDEBUG_FUZZ12_BUDGET=$${PDEBUG_FUZZ12_BUDGET:-200} \
		$(BIN)/pytest -q tests/test_fuzz12.py

lint: $(STAMP)  ## ruff lint + format check
	$(BIN)/ruff check pdebug tests bench tools
	$(BIN)/ruff format --check pdebug tests bench tools

lint-assets: $(LINT_STAMP)  ## ESLint, Stylelint and html-validate on the report page (needs npm)
	$(LINT_DIR)/node_modules/.bin/eslint -c $(LINT_DIR)/eslint.config.js $(ASSETS)/report.js
	$(LINT_DIR)/node_modules/.bin/stylelint -c $(LINT_DIR)/stylelint.config.js $(ASSETS)/report.css
	$(LINT_DIR)/node_modules/.bin/html-validate -c $(LINT_DIR)/.htmlvalidate.json $(ASSETS)/page.html

typecheck: $(STAMP)  ## mypy --strict on pdebug/
	$(BIN)/mypy

check: lint typecheck test  ## lint, typecheck and test

golden: $(STAMP)  ## rewrite golden files from the current output (review the diff!)
	$(BIN)/pytest -q --update-golden

bench: $(STAMP)  ## measure pdebug against the JSON-parse floor (see README)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.live
	$(BIN)/python -m bench.ztunnel
	$(BIN)/python -m bench.report_paint
	$(BIN)/python -m bench.assert_bench

clean:  ## remove the virtualenv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info $(LINT_DIR)/node_modules
