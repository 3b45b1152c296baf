# Aidbridge: `make demo` runs the product on its embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi:app

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

venv: $(BIN)/activate ## Create the virtual environment with every dependency

translations: $(BIN)/activate ## Compile the zh_CN/en message catalogues
	$(BIN)/pybabel -q compile -d fundraise/translations

extract: $(BIN)/activate ## Extract translatable text and update the catalogues
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o fundraise/translations/messages.pot .
	$(BIN)/pybabel -q update -N -i fundraise/translations/messages.pot -d fundraise/translations

demo: translations ## Run Aidbridge at http://127.0.0.1:5000 with demo data (SQLite, jobs inline, sandbox payments)
	$(BIN)/flask db upgrade
	$(BIN)/flask reference load
	$(BIN)/flask demo seed
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: translations ## Run the tests (SQLite unless TEST_DATABASE_URL/REDIS_URL are set)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/activate ## ruff, the formatter check, mypy (strict on the pure packages), migration drift
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy verification matching

migration: $(BIN)/activate ## Autogenerate a migration after changing models: make migration m="what changed"
	@mkdir -p instance
	scratch=$$(mktemp -u $(CURDIR)/instance/migration-XXXX.sqlite3) && \
	  DATABASE_URL=sqlite:///$$scratch $(BIN)/flask db upgrade && \
	  DATABASE_URL=sqlite:///$$scratch $(BIN)/flask db migrate -m "$(m)"; \
	  status=$$?; rm -f $$scratch*; exit $$status

schema: $(BIN)/activate ## Rebuild the initial migration from the models (only until the first release)
	rm -f migrations/versions/0001_initial_schema.py
	$(MAKE) migration m="initial schema"
	f=$$(ls migrations/versions/*_initial_schema.py) && rev=$$(grep -m1 '^revision' $$f | cut -d"'" -f2) && \
	  sed -i "s/$$rev/0001/g" $$f && mv $$f migrations/versions/0001_initial_schema.py

clean: ## Remove the demo database and uploads
	rm -rf instance/aidbridge.sqlite3* instance/uploads

.PHONY: help venv translations extract demo test lint migration schema clean
