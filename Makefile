# The two commands of the README: `make book` (the main job) and `make test` (every test).
# Each creates what it needs on first use: the virtual environment (.venv, from
# constraints.txt), the book's JavaScript (book/node_modules, from book/package-lock.json) and,
# for the browser test, Debian's chromium, and for the grader's sandbox, Debian's bubblewrap.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := book/node_modules/.installed-stamp
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with book/nbval_sanitize.cfg
# A second numeric back-end (other kernels, other rounding): ATen's portable kernels instead of
# AVX2/AVX-512, MKL's reproducible code path, oneDNN limited to SSE4.1. The chapters must pass under
# both, so no stored output can depend on the CPU it was recorded on (book/README.md, the rule;
# tests/test_numeric_backends.py proves the two compute different low bits).
OTHER_BACKEND := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE ONEDNN_MAX_CPU_ISA=SSE41
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: book test test-package demo bench chromium sandbox clean

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,book]'
	touch $(STAMP)

$(NODE_STAMP): book/package.json book/package-lock.json
	cd book && npm ci --silent --no-audit --no-fund
	touch $(NODE_STAMP)

# The book, from the committed notebooks (with their outputs) into _build/html.
book: $(STAMP) $(NODE_STAMP)
	$(PY) book/vendor.py
	$(VENV)/bin/jupyter-book build . -W -n --keep-going --all

chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

# The grader's sandbox (tfm_exercises.grade runs each submission under bubblewrap on Linux).
sandbox:
	@command -v bwrap >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap >/dev/null; }

# Every test: the package's tests, every chapter re-run by nbval (stale outputs fail) under the
# machine's numeric back-end and again under a second one, the graded exercises in their sandbox,
# and the built book opened in headless Chromium (every control of every widget, with no kernel).
test: book chromium sandbox
	@echo "== 1/2: the package's tests, the book in Chromium, the chapters by nbval (this machine's numeric back-end) =="
	$(ONE_THREAD) $(PY) -m pytest -q $(NBVAL) tests chapters
	@echo "== 2/2: the chapters by nbval again, under a second numeric back-end: $(OTHER_BACKEND) =="
	$(OTHER_BACKEND) $(ONE_THREAD) $(PY) -m pytest -q -p no:cacheprovider $(NBVAL) chapters

# Only the package's tests (seconds, no book).
test-package: $(STAMP) sandbox
	$(PY) -m pytest -q tests --ignore=tests/test_book_browser.py

demo: $(STAMP)
	$(PY) -m tfm train --task reverse

# Every benchmark, then the performance appendix (book/performance.md, its plot, benchmarks/results.json).
bench: $(STAMP)
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) _build book/node_modules book/_extra/mathjax build *.egg-info .pytest_cache
	find book/_extra/widgets -type f ! -name setup.js -delete
