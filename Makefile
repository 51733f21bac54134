# Two commands on a fresh machine: `make run` and `make test` (CONTRACT section 1).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench install browser wrk pgbouncer clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/hitl up

# Debian's Chromium for the browser tests (Playwright's own browser download fails here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: sudo apt-get install chromium" >&2; fi; }

# PgBouncer for tests/integration/test_pgbouncer.py (our statements must work through it).
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; \
	  else echo "pgbouncer is missing: sudo apt-get install pgbouncer" >&2; fi; }

# Two pytest processes, each with its own embedded PostgreSQL and Redis, database, `hitl serve`
# and receiver (tests/conftest.py's session fixtures): most tests wait on real processes, so two
# at once on two cores took 808 s where one took 1,255 s (687 tests).
test: install browser pgbouncer
	$(BIN)/pytest -n 2

lint: install
	$(BIN)/ruff check service worker ui tests bench
	$(BIN)/ruff format --check service worker ui tests bench
	$(BIN)/mypy
	# The benches are scripts that import each other, not a package: checked on their own. They
	# call the service's own code (Effects, outbox, repositories), so a change there is checked
	# against them too.
	$(BIN)/mypy bench
	$(BIN)/lint-imports

# wrk (C) drives bench/load.py: a Python load client would take a core from the server.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk is missing: sudo apt-get install wrk" >&2; fi; }

# Figures, printed beside their floors and targets; nothing here asserts.
bench: install browser wrk
	$(BIN)/python bench/load.py
	$(BIN)/python bench/review_queue.py
	$(BIN)/python bench/turns.py
	$(BIN)/python bench/policy.py
	$(BIN)/python bench/encoder.py
	$(BIN)/python bench/detectors.py
	$(BIN)/python bench/transfers.py
	$(BIN)/python bench/replay.py
	$(BIN)/python bench/ui.py

clean:
	rm -rf $(VENV) .hitl
