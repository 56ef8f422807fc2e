# sievit: `make demo` runs the pipeline, `make test` the tests; both set up first.
VENV := .venv
SIEVIT := $(VENV)/bin/sievit
CKPT := checkpoints/fmnist_heatvit
DEMO := out/demo
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	$(VENV)/bin/python -m pytest -n 2 tests rtl_tests

clean:
	rm -rf out
