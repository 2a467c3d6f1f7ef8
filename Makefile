# Two entry points: `make demo` runs the main job on embedded defaults, `make test` the suite.
# Both create .venv and install trivium into it on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test check-java models

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -c 'import sys; sys.exit("trivium needs Python 3.11 or 3.12, found " + sys.version.split()[0]) if sys.version_info[:2] not in ((3, 11), (3, 12)) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

check-java:
	@command -v java >/dev/null 2>&1 || { echo "error: Spark needs Java 17+ (e.g. apt-get install openjdk-17-jre-headless)" >&2; exit 1; }

demo: setup check-java
	$(BIN)/trivium demo

# Two pytest-xdist workers (CI's machine has two cores), one test file at a time each (module fixtures
# are built once); TEST_WORKERS=0 runs the suite in this one process.
TEST_WORKERS ?= 2
test: setup check-java
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# Rebuild the shipped default models (mixtures/models/domain.ftz, filters/models/quality.ftz) from ../shared/corpus;
# byte-identical on every run (one fastText thread, fixed seeds).
CORPUS ?= ../shared/corpus
models: setup
	$(BIN)/trivium classifier train --defaults --seed-sources $(CORPUS)/sources.json
