#!/bin/sh
# Run every benchmark in turn; extra arguments are ignored. Takes ~15-25 minutes on 2 shared cores.
set -e
cd "$(dirname "$0")/.."
python benchmarks/bench_convert.py
echo
python benchmarks/bench_runtime.py --profile
echo
python benchmarks/bench_aux.py
