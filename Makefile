# Two entry points. Each builds the virtual environment from requirements.txt when it is missing.
#   make report   the whole report on the default parameters (embedded data, CPU-sized):
#                 reports/report.html and reports/report.pdf
#   make test     every notebook end to end with `pytest --nbmake notebooks` in the CI configuration
#                 (the `ci` parameter set, deblur_utils/params/ci.yaml), the unit tests, and the report
#                 built from the notebooks (tests/test_report.py)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PARAMS ?= default
TEST_WORKDIR ?= build/test-work

.PHONY: report test env pdf-tools real-photos clean

env: $(VENV)/.installed pdf-tools

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

# The PDF: headless Chromium prints reports/report.html; the tests read it back with poppler's pdftotext.
# Installed with apt-get where missing when run as root; otherwise a note says what to install
# (reports/report.html is written either way).
pdf-tools:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  command -v google-chrome >/dev/null 2>&1 || missing="chromium fonts-dejavu-core"; \
	command -v pdftotext >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $$missing (PDF report)"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) \
	      || echo "note: apt-get could not install $$missing; the report is HTML only"; \
	  else \
	    echo "note: the PDF report needs $$missing: sudo apt-get install $$missing (Debian/Ubuntu);" \
	         "reports/report.html is written without it"; \
	  fi; \
	fi

# The real photos: the test set (notebook 01 builds it, 04 grades it), its validation set, and the training
# photos notebook 01 adds to the embedded default's training split: Debian wallpaper packages unpacked under
# data/external/debian/ with apt-get download + dpkg-deb -x (nothing installed system-wide). Where there is
# no apt-get it says so: notebook 04 skips that chapter, and the report says training went without them.
real-photos: $(VENV)/.installed
	-$(PY) -m deblur_utils fetch-real-photos

report: $(VENV)/.installed pdf-tools real-photos
	$(PY) -m deblur_utils report --params $(PARAMS)

# The notebooks as the course's CI runs them (nbmake, DEBLUR_PARAMS=ci), then the unit tests and the report
# checks (tests/test_report.py executes 01-05 once more with papermill, as `make report` does, and builds the report).
test: $(VENV)/.installed pdf-tools real-photos
	rm -rf $(TEST_WORKDIR)
	DEBLUR_WORKDIR=$(abspath $(TEST_WORKDIR)) DEBLUR_PARAMS=ci \
	  $(PY) -m pytest --nbmake notebooks tests deblur_utils -q

clean:
	rm -rf reports runs data/raw data/processed build
