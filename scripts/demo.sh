#!/usr/bin/env bash
# The main job: shipped checkpoint -> accuracy (float / int8 dense / int8 pruned) on the
# 10k Fashion-MNIST test set -> integer bundle -> golden == model check -> results table.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/sievit
CKPT=checkpoints/fmnist_heatvit
OUT=out/demo
rm -rf "$OUT"; mkdir -p "$OUT"
echo "== 1/4 export the integer bundle"
$S export --ckpt $CKPT --out $OUT/bundle
echo "== 2/4 evaluate on the 10k test set (golden integer model)"
$S eval --ckpt $CKPT --json > $OUT/eval.json
echo "== 3/4 verify golden == Brevitas integer eval path (1000 test images, dense + pruned)"
$S verify golden --ckpt $CKPT --images 1000 --json > $OUT/verify.json
echo "== 4/4 golden model speed"
$S bench golden --bundle $OUT/bundle --images 1000 --json > $OUT/bench.json
.venv/bin/python scripts/results_table.py $OUT
