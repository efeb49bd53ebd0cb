# Two commands a newcomer needs: `make up` and `make test`. Everything lives in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The browser tests drive Debian's Chromium (tests/browser); PREVIEWD_CHROMIUM points elsewhere.
CHROMIUM ?= $(or $(PREVIEWD_CHROMIUM),/usr/bin/chromium)

.PHONY: up install test lint clean chromium sandbox

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# setuptools tells every editable install, as a warning pip prints, to mind folders named like our
# packages; that is the layout, so a newcomer's first screen skips it. Real warnings still show.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(STAMP): pyproject.toml | $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e '.[test,dev]'
	touch $@

install: $(STAMP)

up: install sandbox
	$(BIN)/previewd up

# PR code runs in a sandbox (activities/sandbox): bubblewrap, slirp4netns, iproute2 and util-linux
# (setpriv, nsenter), and libseccomp2 for its seccomp filter. Installed where missing and possible
# (root with apt-get). Where not, previewd runs PR code unsandboxed and says so; the sandbox tests are
# skipped, or fail when CI is set.
SANDBOX_PROGRAMS := bwrap slirp4netns ip setpriv nsenter
SANDBOX_LIBRARIES := libseccomp.so.2
SANDBOX_PACKAGES := bubblewrap slirp4netns iproute2 util-linux libseccomp2
sandbox:
	@export PATH=/usr/sbin:/usr/bin:/sbin:/bin; missing=""; \
	for p in $(SANDBOX_PROGRAMS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	for l in $(SANDBOX_LIBRARIES); do ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$$l " || missing="$$missing $$l"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing the sandbox's programs:$$missing"; \
		apt-get install -y -qq $(SANDBOX_PACKAGES) >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq $(SANDBOX_PACKAGES) >/dev/null 2>&1; } \
		|| echo "could not install$$missing: PR code will run unsandboxed (the sandbox tests are skipped, or fail under CI)"; \
	else \
		echo "missing$$missing and no way to install them (needs root and apt-get: $(SANDBOX_PACKAGES)): PR code will run unsandboxed (the sandbox tests are skipped, or fail under CI)"; \
	fi

# Installs Chromium where it is missing and can be (root with apt-get). Where it cannot, the browser
# tests are skipped with the reason, or fail when CI is set.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get install -y -qq chromium >/dev/null 2>&1 \
		|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
		|| echo "could not install chromium: the browser tests will be skipped (or fail under CI)"; \
	else \
		echo "no chromium at $(CHROMIUM) and no way to install it: the browser tests will be skipped (or fail under CI)"; \
	fi

# The suite mostly waits (builds, timers, restarts, Temporal), so its modules run on three processes
# (pytest-xdist, one module per process at a time, the longest first: tests/conftest.py) even on two
# cores. TEST_PROCESSES=0 runs it in one.
TEST_PROCESSES ?= 3
test: $(TEST_STAMP) chromium sandbox
	PREVIEWD_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest -q $(if $(filter 0,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --dist loadfile)

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

clean:
	rm -rf $(VENV) .previewd
