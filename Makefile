# The two commands: `make run` and `make test`. Both work on a fresh machine with Python 3.11+ and make.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test init worker bench soak translations clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "woo-bridge needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.run-deps: $(VENV)/bin/python requirements.txt
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.test-deps: $(VENV)/.run-deps requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

init: $(VENV)/.run-deps
	$(PY) -m bridge init

# app.py creates or upgrades the database itself and prints the banner once (no `init` before it)
run: $(VENV)/.run-deps
	HOST=$(HOST) PORT=$(PORT) $(PY) app.py

worker: $(VENV)/.run-deps
	$(PY) -m bridge worker

test: $(VENV)/.test-deps
	scripts/ensure-debian-packages chromium=chromium nginx=nginx-light logrotate=logrotate openssl=openssl \
	  php=php-cli php=php-mysql php=php-xml php=php-mbstring php=php-curl php=php-intl php=php-gd php=php-zip \
	  php=php-bcmath mariadb-install-db=mariadb-server mariadb=mariadb-client curl=curl xz=xz-utils
	$(PY) scripts/audit-deps $(PY)
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests bridge/providers

# intake: the deployment against two baselines (about 8 min); memory: 100,000 webhooks (long)
bench: $(VENV)/.test-deps
	$(PY) bench/woolab.py
	$(PY) bench/intake.py
	$(PY) bench/cpu.py
	$(PY) bench/inbound.py
	$(PY) bench/memory.py
	$(PY) bench/match.py
	$(PY) bench/admin_pages.py
	$(PY) bench/retention_burst.py

soak: $(VENV)/.test-deps
	$(PY) bench/soak.py --minutes 10

translations: $(VENV)/.test-deps
	$(VENV)/bin/pybabel extract -F babel.cfg --no-location --omit-header -o bridge/translations/messages.pot .
	$(VENV)/bin/pybabel update -i bridge/translations/messages.pot -d bridge/translations -l vi --width 100
	$(VENV)/bin/pybabel compile -d bridge/translations -l vi

clean:
	rm -rf $(VENV) .pytest_cache
