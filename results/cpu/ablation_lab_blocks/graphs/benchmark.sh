#!/bin/sh
# Op-profiled Larq Compute Engine benchmarks, written by lab.oplogs.benchmark_script.
# On the device: put this script, the .tflite files and lce_benchmark_model (LCE release binary for the
# device) in one folder, run `sh <this script>`, copy the *.log and *.csv files back into a folder here
# and pass it to the notebook edge_latency (device_logs) or to lab.oplogs.read_logs.
set -e
BENCH="${LCE_BENCHMARK_MODEL:-./lce_benchmark_model}"
echo birealnet-sign_t1
"$BENCH" --graph=birealnet-sign.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-sign_t1.csv > birealnet-sign_t1.log 2>&1
echo birealnet-lab-0001_t1
"$BENCH" --graph=birealnet-lab-0001.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0001_t1.csv > birealnet-lab-0001_t1.log 2>&1
echo birealnet-lab-0010_t1
"$BENCH" --graph=birealnet-lab-0010.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0010_t1.csv > birealnet-lab-0010_t1.log 2>&1
echo birealnet-lab-0011_t1
"$BENCH" --graph=birealnet-lab-0011.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0011_t1.csv > birealnet-lab-0011_t1.log 2>&1
echo birealnet-lab-0100_t1
"$BENCH" --graph=birealnet-lab-0100.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0100_t1.csv > birealnet-lab-0100_t1.log 2>&1
echo birealnet-lab-0101_t1
"$BENCH" --graph=birealnet-lab-0101.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0101_t1.csv > birealnet-lab-0101_t1.log 2>&1
echo birealnet-lab-0110_t1
"$BENCH" --graph=birealnet-lab-0110.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0110_t1.csv > birealnet-lab-0110_t1.log 2>&1
echo birealnet-lab-0111_t1
"$BENCH" --graph=birealnet-lab-0111.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-0111_t1.csv > birealnet-lab-0111_t1.log 2>&1
echo birealnet-lab-1000_t1
"$BENCH" --graph=birealnet-lab-1000.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1000_t1.csv > birealnet-lab-1000_t1.log 2>&1
echo birealnet-lab-1001_t1
"$BENCH" --graph=birealnet-lab-1001.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1001_t1.csv > birealnet-lab-1001_t1.log 2>&1
echo birealnet-lab-1010_t1
"$BENCH" --graph=birealnet-lab-1010.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1010_t1.csv > birealnet-lab-1010_t1.log 2>&1
echo birealnet-lab-1011_t1
"$BENCH" --graph=birealnet-lab-1011.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1011_t1.csv > birealnet-lab-1011_t1.log 2>&1
echo birealnet-lab-1100_t1
"$BENCH" --graph=birealnet-lab-1100.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1100_t1.csv > birealnet-lab-1100_t1.log 2>&1
echo birealnet-lab-1101_t1
"$BENCH" --graph=birealnet-lab-1101.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1101_t1.csv > birealnet-lab-1101_t1.log 2>&1
echo birealnet-lab-1110_t1
"$BENCH" --graph=birealnet-lab-1110.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab-1110_t1.csv > birealnet-lab-1110_t1.log 2>&1
echo birealnet-lab_t1
"$BENCH" --graph=birealnet-lab.tflite --num_threads=1 --num_runs=50 --warmup_runs=5 --use_indirect_bgemm=false --use_xnnpack=false --enable_op_profiling=true --profiling_output_csv_file=birealnet-lab_t1.csv > birealnet-lab_t1.log 2>&1
