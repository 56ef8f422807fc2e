#!/usr/bin/env bash
# The main job: shipped checkpoint -> accuracy (float / int8 dense / int8 pruned) on the
# 10k Fashion-MNIST test set -> integer bundle -> golden == model check -> HLS project and
# its g++ C-simulation against the golden model -> whole-model RTL co-simulation (cocotb,
# Verilator) -> Yosys resources of the RTL top (the committed synthesis report, checked
# against the current RTL sources) -> results table.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/sievit
# the deployed HeatViT checkpoint, picked on validation (scripts/pick_deployed.py, docs/deployed.json)
CKPT=checkpoints/fmnist_heatvit_b40
OUT=out/demo
rm -rf "$OUT"; mkdir -p "$OUT"
echo "== 1/8 export the integer bundle"
$S export --ckpt $CKPT --out $OUT/bundle
echo "== 2/8 evaluate on the 10k test set (golden integer model)"
$S eval --ckpt $CKPT --json > $OUT/eval.json
echo "== 3/8 verify golden == Brevitas integer eval path (1000 test images, dense + pruned)"
$S verify golden --ckpt $CKPT --images 1000 --json > $OUT/verify.json
echo "== 4/8 golden model speed"
$S bench golden --bundle $OUT/bundle --images 1000 --json > $OUT/bench.json
echo "== 5/8 generate the Vitis HLS project"
$S export-hls --bundle $OUT/bundle --out $OUT/hls_prj --json > $OUT/export_hls.json
echo "== 6/8 C-simulate it with g++ (100 test images, dense + pruned; every engine, 200 cases)"
$S csim $OUT/hls_prj --images 100 --engines --cases 200 --json > $OUT/csim.json
echo "== 7/8 co-simulate the whole-model RTL (Verilator, 4 test images, dense + pruned)"
$S cosim --bundle $OUT/bundle --images 4 --jobs 2 --json > $OUT/cosim.json
echo "== 8/8 Yosys synth_xilinx resources of the RTL top (docs/rtl_synth.json, made by"
echo "   \`sievit rtl-synth --json\` in about 15 minutes; refused if the RTL changed since)"
$S rtl-synth --cached docs/rtl_synth.json --json > $OUT/rtl_synth.json
.venv/bin/python scripts/results_table.py $OUT
