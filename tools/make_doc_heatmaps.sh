#!/usr/bin/env bash
# Regenerates the example heatmaps in docs/attention/img/ (alignment.{svg,png}, heads.{svg,png}).
# The pictures come from the test HeatmapTest.DocumentationImages, which writes them into
# $ATTN_DOC_IMG_DIR when that is set (and into a temporary directory otherwise), so the committed
# images are exactly what the tested code produces.
# Usage: tools/make_doc_heatmaps.sh [build dir, default build]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
cmake --build "$build" --target attn_viz_tests
mkdir -p "$root/docs/attention/img"
ATTN_DOC_IMG_DIR="$root/docs/attention/img" "$build/tests/attn_viz_tests" --gtest_filter='HeatmapTest.DocumentationImages'
ls -l "$root"/docs/attention/img/{alignment,heads}.{svg,png}
