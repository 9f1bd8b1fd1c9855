#!/usr/bin/env bash
# Regenerates the catalog's example heatmaps in docs/attention/img/ with examples/catalog_figures
# (each picture is the output of the mechanism it shows, on small structured inputs).
# Usage: tools/make_catalog_figures.sh [build dir, default build]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
cmake --build "$build" --target catalog_figures
"$build/examples/catalog_figures" "$root/docs/attention/img"
