# The two commands of the README: `make book` (the main job) and `make test` (every test).
# Each creates what it needs on first use: the virtual environment (.venv, from
# constraints.txt), the book's JavaScript (book/node_modules, from book/package-lock.json) and,
# for the browser test, Debian's chromium.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := book/node_modules/.installed-stamp
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with book/nbval_sanitize.cfg

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

# Every test: the package's tests, every chapter re-run by nbval (stale outputs fail), and the
# built book opened in headless Chromium (tests/test_book_browser.py).
test: book chromium
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q $(NBVAL) tests chapters

# Only the package's tests (seconds, no book).
test-package: $(STAMP)
	$(PY) -m pytest -q tests --ignore=tests/test_book_browser.py

demo: $(STAMP)
	$(PY) -m tfm train --task reverse

# Every benchmark, then the performance appendix (book/performance.md, its plot, benchmarks/results.json).
bench: $(STAMP)
	$(PY) benchmarks/report.py

clean:
	rm -rf $(VENV) _build book/node_modules book/_extra/mathjax build *.egg-info .pytest_cache
	find book/_extra/widgets -type f ! -name setup.js -delete
