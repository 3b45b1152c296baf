# Aidbridge: `make demo` runs the product on its embedded default, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
TEST_WORKERS ?= 2
export FLASK_APP := wsgi:app

.DEFAULT_GOAL := help

help: ## List the targets and what each does
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/activate

venv: $(BIN)/activate ## Create .venv and install Aidbridge with its dev tools (again when pyproject.toml changes)

translations: $(BIN)/activate ## Compile the Chinese and English message catalogues (.po to .mo)
	$(BIN)/pybabel -q compile -d fundraise/translations

extract: $(BIN)/activate ## Extract translatable text into messages.pot and merge it into both catalogues
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -o fundraise/translations/messages.pot .
	$(BIN)/pybabel -q update -N -i fundraise/translations/messages.pot -d fundraise/translations

demo: translations ## Migrate, load reference and demo data, serve at http://127.0.0.1:5000 (SQLite in instance/, jobs inline, sandbox payments; HOST=, PORT=)
	$(BIN)/flask db upgrade
	$(BIN)/flask reference load
	$(BIN)/flask demo seed --url http://$(HOST):$(PORT)
	$(BIN)/flask run --host $(HOST) --port $(PORT)

test: translations ## Compile the catalogues and run pytest in TEST_WORKERS processes (2; 0 for one), migration drift check included (SQLite; PostgreSQL and rq tests need TEST_DATABASE_URL and REDIS_URL; PYTEST_ARGS=)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(BIN)/activate ## ruff check, ruff format --check, mypy (strict, see pyproject.toml) on verification/, matching/, fundraise/, and the import contracts (.importlinter)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy verification matching fundraise
	$(BIN)/lint-imports

migration: $(BIN)/activate ## Autogenerate a migration from the models against a scratch SQLite database: make migration m="what changed"
	@mkdir -p instance
	scratch=$$(mktemp -u $(CURDIR)/instance/migration-XXXX.sqlite3) && \
	  DATABASE_URL=sqlite:///$$scratch $(BIN)/flask db upgrade && \
	  DATABASE_URL=sqlite:///$$scratch $(BIN)/flask db migrate -m "$(m)"; \
	  status=$$?; rm -f $$scratch*; exit $$status

schema: $(BIN)/activate ## Regenerate migrations/versions/0001_initial_schema.py from the models (only until the first release)
	rm -f migrations/versions/0001_initial_schema.py
	$(MAKE) migration m="initial schema"
	f=$$(ls migrations/versions/*_initial_schema.py) && rev=$$(grep -m1 '^revision' $$f | cut -d"'" -f2) && \
	  sed -i "s/$$rev/0001/g" $$f && mv $$f migrations/versions/0001_initial_schema.py

clean: ## Delete the demo database (instance/aidbridge.sqlite3*) and uploads (instance/uploads)
	rm -rf instance/aidbridge.sqlite3* instance/uploads

.PHONY: help venv translations extract demo test lint migration schema clean
