// The machine's fp32 limits, measured where the benchmark runs: a loop of independent fused
// multiply-adds on the widest vectors the CPU has (its peak), and a large oneDNN SGEMM (what
// a well-blocked kernel reaches).
#pragma once

namespace popup {

// GFLOP/s of `threads` OpenMP threads each running chains of FMAs (2 FLOP per lane).
double fma_peak_gflops(int threads);

// GFLOP/s of a 2048 x 2048 x 2048 SGEMM through oneDNN, median of 5.
double sgemm_gflops(int threads);

}  // namespace popup
