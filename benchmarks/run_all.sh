#!/bin/sh
# Run every benchmark in turn; extra arguments are ignored. Takes ~25 minutes on 2 shared cores.
set -e
cd "$(dirname "$0")/.."
python benchmarks/bench_convert.py
echo
python benchmarks/bench_runtime.py --profile --single-thread-rows
echo
python benchmarks/bench_aux.py
echo
python benchmarks/bench_kernels.py --frames 200
echo
python benchmarks/bench_blas.py --threads
echo
python benchmarks/bench_inspect.py
echo
python benchmarks/bench_bundle.py
