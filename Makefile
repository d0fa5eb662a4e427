# keras-hebbian: install, test on every backend, run the demo.
#   make test                  install into .venv (once), then test on jax, tensorflow and torch
#   make test BACKENDS=jax     one backend
#   make demo                  keras-hebbian train: SoftHebb on scikit-learn's digits (offline)
#   make docs                  install the docs extra into .venv (once), then build the site into site/

PYTHON ?= python3
VENV ?= .venv
BACKENDS ?= jax tensorflow torch
# The CPU build of PyTorch; set TORCH= to use the one already installed.
TORCH ?= torch==2.13.0
PYTEST_ARGS ?= -q

BIN := $(VENV)/bin

.PHONY: install test demo clean docs

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/activate pyproject.toml
	$(if $(TORCH),$(BIN)/python -m pip install -q "$(TORCH)")
	$(BIN)/python -m pip install -q -e ".[jax,tensorflow-cpu,torch,test]"
	touch $@

install: $(VENV)/.installed

test: install
	@status=0; for backend in $(BACKENDS); do \
		echo "== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest $(PYTEST_ARGS) tests || status=1; \
	done; exit $$status

demo: $(BIN)/activate
	$(BIN)/python -m pip install -q -e ".[jax,plot]"
	$(BIN)/keras-hebbian train --backend jax

clean:
	rm -rf $(VENV) *.egg-info

$(VENV)/.docs-installed: $(BIN)/activate pyproject.toml
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
