# Two entry points. Each builds the virtual environment from requirements.txt when it is missing.
#   make report   the whole report on the default parameters (embedded data, CPU-sized)
#   make test     unit tests + every notebook end to end in the CI configuration (params/ci.yaml)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PARAMS ?= default
TEST_WORKDIR ?= build/test-work

.PHONY: report test env clean

env: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

report: $(VENV)/.installed
	$(PY) -m deblur_utils report --params $(PARAMS)

test: $(VENV)/.installed
	rm -rf $(TEST_WORKDIR)
	DEBLUR_WORKDIR=$(abspath $(TEST_WORKDIR)) DEBLUR_PARAMS=ci \
	  $(PY) -m pytest tests deblur_utils --nbmake notebooks --nbmake-timeout=900 -q

clean:
	rm -rf reports runs data/raw data/processed build
