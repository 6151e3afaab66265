#!/bin/sh
# Op-profiled Larq Compute Engine benchmarks, written by lab.oplogs.benchmark_script.
# On the device: put this script, the .tflite files and lce_benchmark_model (LCE release binary for the
# device) in one folder, run `sh <this script>`, copy the *.log and *.csv files back into a folder here
# and pass it to the notebook edge_latency (device_logs) or to lab.oplogs.read_logs.
set -e
BENCH="${LCE_BENCHMARK_MODEL:-./lce_benchmark_model}"
echo xnornet_sign_t1
"$BENCH" --graph=xnornet_sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=xnornet_sign_t1.csv > xnornet_sign_t1.log 2>&1
echo xnornet_lab_t1
"$BENCH" --graph=xnornet_lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=xnornet_lab_t1.csv > xnornet_lab_t1.log 2>&1
echo xnornet_lab_folded_t1
"$BENCH" --graph=xnornet_lab_folded.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=xnornet_lab_folded_t1.csv > xnornet_lab_folded_t1.log 2>&1
echo birealnet_sign_t1
"$BENCH" --graph=birealnet_sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet_sign_t1.csv > birealnet_sign_t1.log 2>&1
echo birealnet_lab_t1
"$BENCH" --graph=birealnet_lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet_lab_t1.csv > birealnet_lab_t1.log 2>&1
echo birealnet_lab_folded_t1
"$BENCH" --graph=birealnet_lab_folded.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet_lab_folded_t1.csv > birealnet_lab_folded_t1.log 2>&1
echo quicknet_sign_t1
"$BENCH" --graph=quicknet_sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=quicknet_sign_t1.csv > quicknet_sign_t1.log 2>&1
echo quicknet_lab_t1
"$BENCH" --graph=quicknet_lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=quicknet_lab_t1.csv > quicknet_lab_t1.log 2>&1
echo quicknet_lab_folded_t1
"$BENCH" --graph=quicknet_lab_folded.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=quicknet_lab_folded_t1.csv > quicknet_lab_folded_t1.log 2>&1
echo reactnet_sign_t1
"$BENCH" --graph=reactnet_sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=reactnet_sign_t1.csv > reactnet_sign_t1.log 2>&1
echo reactnet_lab_t1
"$BENCH" --graph=reactnet_lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=reactnet_lab_t1.csv > reactnet_lab_t1.log 2>&1
echo reactnet_lab_folded_t1
"$BENCH" --graph=reactnet_lab_folded.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=reactnet_lab_folded_t1.csv > reactnet_lab_folded_t1.log 2>&1
