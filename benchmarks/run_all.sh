#!/bin/sh
# Run every benchmark in turn; extra arguments are ignored. Takes ~45 minutes on 2 shared cores
# (plus ~7 minutes the first time, while bench_index.py builds its 632 MB index).
set -e
cd "$(dirname "$0")/.."
python benchmarks/bench_cli.py
echo
python benchmarks/bench_convert.py
echo
python benchmarks/bench_runtime.py --profile --single-thread-rows
echo
python benchmarks/bench_aux.py
echo
python benchmarks/bench_pipeline.py
echo
python benchmarks/bench_vocoders.py
echo
python benchmarks/bench_pitch.py
echo
python benchmarks/bench_kernels.py --frames 200
echo
python benchmarks/bench_blas.py --threads
echo
python benchmarks/bench_inspect.py
echo
python benchmarks/bench_bundle.py
echo
python benchmarks/bench_index.py
