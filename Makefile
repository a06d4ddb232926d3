# The README's two commands are `make run` and `make test`; everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint format bench clean browser

install: $(STAMP) node_modules/.installed

# The portal's front-end assets, from the npm registry (served by AmpNexus itself: no CDN).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's Chromium; install it when it is missing.
browser:
	@test -x /usr/bin/chromium || scripts/install-chromium

# Reinstall only when the project's dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/ampnexus serve

# The tests mostly wait on sockets and databases: more workers than cores pays off.
TEST_WORKERS ?= 4

test: install lint browser
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/ocpp_load.py --chargers 1000 --rate 3.3 --duration 30 --closed-loop
	$(BIN)/python bench/planner.py
	$(BIN)/python bench/replan.py
	$(BIN)/python bench/abuse.py
	$(BIN)/python bench/webhooks.py
	$(BIN)/python bench/portal.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
