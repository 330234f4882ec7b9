# Loupe: `make run` serves the app with a render worker; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Extra pytest arguments, e.g. make test PYTEST_ARGS='-m "not services"' (as .ci/run does).
PYTEST_ARGS ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint browser clean

# Development installs everything (web, render worker, tests) from the hashed lock;
# requirements/README.md says how the locks are made and which machine installs which.
$(STAMP): requirements/dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	@touch $(STAMP)

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; fi; }

run: $(STAMP)
	DEBUG=1 $(PY) manage.py migrate --no-input -v0
	DEBUG=1 $(PY) manage.py loupe_bootstrap
	@echo ""
	@echo "  Loupe is at http://$(HOST):$(PORT)/   (Ctrl-C stops the web server and the worker)"
	@echo ""
	@# The demo scores with the built-in tiny random scorers unless LOUPE_SCORERS says otherwise.
	@DEBUG=1 LOUPE_SCORERS="$${LOUPE_SCORERS-clip=tiny-random,aesthetic=tiny-random}" bash -c 'trap "kill 0" EXIT; \
	  $(VENV)/bin/celery --quiet -A evalsite worker -B -Q render --pool=solo --loglevel=WARNING \
	    --schedule var/celerybeat-schedule & \
	  DJANGO_RUNSERVER_HIDE_WARNING=true $(PY) manage.py runserver $(HOST):$(PORT)'

test: $(STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

clean:
	rm -rf var
