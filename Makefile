# snnkit: two commands on a bare machine (`make demo`, `make test`), plus bench and docs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.snnkit-installed
PIP    := $(BIN)/python -m pip install --disable-pip-version-check -q

.PHONY: all install demo test test-fast bench docs clean

all: test

# The venv counts as made when its python can import pip. One that cannot (`python -m venv` interrupted
# before it installed pip, an interpreter removed since, a venv made without pip) is made again from
# scratch, and since pyvenv.cfg is then newer than the stamp, everything below is installed again.
ifneq ($(shell $(BIN)/python -c "import pip" >/dev/null 2>&1 && echo ok),ok)
.PHONY: $(VENV)/pyvenv.cfg
endif

$(VENV)/pyvenv.cfg:
	$(PYTHON) -m venv --clear $(VENV)

# torch first (the pinned CPU wheel; any other spec pulls CUDA packages), then the
# project with test extras, then the peers whose declared dependencies cannot be met
# here, with --no-deps (recipe in ../shared/DESIGN.md section 4).
$(STAMP): pyproject.toml Makefile $(VENV)/pyvenv.cfg
	$(PIP) torch==2.13.0
	$(PIP) -e ".[test,docs,gpu]"
	$(PIP) aedat==2.3.0 lz4==4.4.5 zstandard==0.25.0 transformers==5.23.0
	$(PIP) --no-deps --ignore-requires-python lava-nc==0.10.0
	$(PIP) --no-deps --ignore-requires-python lava-dl==0.6.0
	$(PIP) --no-deps spikingjelly==2.0.0
	$(PIP) --no-deps recbole==1.2.1
	$(PIP) --no-deps syops==0.0.5
	$(PIP) --no-deps seglearn==1.2.5
	$(BIN)/python -c "import snnkit, snnkit.kernels.cpu as k; print('snnkit', snnkit.__version__, '| cpu kernels:', k.available() or k.error())"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q tests

# each script's wall time is printed after it (benchmarks/README.md lists what they took)
BENCHES := neuron_speed.py data_speed.py wkv_speed.py rwkv_speed.py tcja_speed.py "tcja_seeds.py --extend" \
           lava_speed.py energy_report.py spikegpt_energy.py lm_speed.py
bench: $(STAMP)
	@for b in $(BENCHES); do \
	  t0=$$(date +%s); echo "== benchmarks/$$b"; \
	  $(BIN)/python benchmarks/$$b || exit 1; \
	  echo "== benchmarks/$$b took $$(( $$(date +%s) - t0 )) s"; \
	done

docs: $(STAMP)
	$(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) site .pytest_cache
