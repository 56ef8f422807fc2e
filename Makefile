# sievit: `make demo` runs the pipeline, `make test` the tests; both set up first.
VENV := .venv
SIEVIT := $(VENV)/bin/sievit
CKPT := checkpoints/fmnist_heatvit_b40
DEMO := out/demo
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup demo test clean

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

# One BLAS/OpenMP thread per pytest worker: two workers on two cores otherwise oversubscribe
# the cores (spinning BLAS threads made the suite 2-15x slower).
test: setup
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(VENV)/bin/python -m pytest -n 2 tests rtl_tests --durations=10

clean:
	rm -rf out
