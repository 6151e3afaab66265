#!/bin/sh
# Op-profiled Larq Compute Engine benchmarks, written by lab.oplogs.benchmark_script.
# On the device: put this script, the .tflite files and lce_benchmark_model (LCE release binary for the
# device) in one folder, run `sh <this script>`, copy the *.log and *.csv files back into a folder here
# and pass it to the notebook edge_latency (device_logs) or to lab.oplogs.read_logs.
set -e
BENCH="${LCE_BENCHMARK_MODEL:-./lce_benchmark_model}"
echo xnornet-sign_t1
"$BENCH" --graph=xnornet-sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=xnornet-sign_t1.csv > xnornet-sign_t1.log 2>&1
echo xnornet-lab_t1
"$BENCH" --graph=xnornet-lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=xnornet-lab_t1.csv > xnornet-lab_t1.log 2>&1
echo birealnet-sign_t1
"$BENCH" --graph=birealnet-sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-sign_t1.csv > birealnet-sign_t1.log 2>&1
echo birealnet-lab_t1
"$BENCH" --graph=birealnet-lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab_t1.csv > birealnet-lab_t1.log 2>&1
echo quicknet-sign_t1
"$BENCH" --graph=quicknet-sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=quicknet-sign_t1.csv > quicknet-sign_t1.log 2>&1
echo quicknet-lab_t1
"$BENCH" --graph=quicknet-lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=quicknet-lab_t1.csv > quicknet-lab_t1.log 2>&1
echo reactnet-sign_t1
"$BENCH" --graph=reactnet-sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=reactnet-sign_t1.csv > reactnet-sign_t1.log 2>&1
echo reactnet-lab_t1
"$BENCH" --graph=reactnet-lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=reactnet-lab_t1.csv > reactnet-lab_t1.log 2>&1
