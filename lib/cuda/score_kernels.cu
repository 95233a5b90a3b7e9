// The CUDA score engine's kernels (score_kernels.cuh): top-k masks by radix selection over the
// 31 bits of |score| with the tie-break of topk.cpp, the fused straight-through gradient and
// optimiser update of optimizer.cpp, and the scatter of IteRand's redrawn weights. Build with
// -fmad=false: the CPU reference is built with -ffp-contract=off, and the update kernels also
// spell every operation with a round-to-nearest intrinsic so that no a*b+c becomes an FMA
// whatever the flags.
#include "cuda/score_kernels.cuh"

#include "cuda/cuda_check.hpp"
#include "error.hpp"

namespace popup {
namespace {

constexpr int kThreads = 256;  // every kernel's block size
constexpr int kWarps = kThreads / 32;
constexpr int kPasses = 3;
constexpr int kMaxBins = 2048;
constexpr int kMaxBinsPerThread = kMaxBins / kThreads;

// The digits of |s|'s 31 bits, most significant first: bits 30..20, 19..9, 8..0.
__host__ __device__ constexpr int digit_shift(int pass) {
  return pass == 0 ? 20 : pass == 1 ? 9 : 0;
}
__host__ __device__ constexpr int digit_bits(int pass) { return pass == 2 ? 9 : 11; }

// What the selection keeps in device memory between its kernels, so that the host never
// waits. After the last pass, prefix is the threshold T (the bits of the keep-th largest
// |s|), remaining the number of elements equal to T to keep, ties how many equal T.
struct SelectState {
  unsigned long long hist[kMaxBins];  // zero between passes: each digit pass clears it
  unsigned long long remaining;       // kept elements still to choose among those matching prefix
  unsigned long long ties;
  unsigned int prefix;  // the bits of T chosen so far
};

__device__ uint32_t abs_bits(float s) { return __float_as_uint(s) & 0x7FFFFFFFu; }

// Histogram of this pass's digit over the elements whose higher digits equal the prefix.
__global__ void select_histogram_kernel(const float* __restrict__ scores, int64_t n, int pass,
                                        SelectState* state) {
  __shared__ unsigned int bins[kMaxBins];
  const int shift = digit_shift(pass), nbins = 1 << digit_bits(pass);
  const int high = shift + digit_bits(pass);  // 31 on the first pass: every element matches
  const unsigned int prefix = pass == 0 ? 0u : state->prefix;
  for (int b = threadIdx.x; b < nbins; b += kThreads) bins[b] = 0;
  __syncthreads();
  // The loop bound is the same for a whole block, so every lane reaches __match_any_sync.
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t base = int64_t{blockIdx.x} * kThreads; base < n; base += stride) {
    const int64_t i = base + threadIdx.x;
    int bin = -1;
    if (i < n) {
      const uint32_t bits = abs_bits(scores[i]);
      if ((bits >> high) == (prefix >> high)) bin = static_cast<int>((bits >> shift) & (nbins - 1));
    }
    // A layer's scores share their leading digits: one shared-memory atomic per distinct bin
    // and warp instead of 32 on the same word.
    const unsigned int peers = __match_any_sync(0xFFFFFFFFu, bin);
    if (bin >= 0 && (threadIdx.x & 31) == __ffs(peers) - 1) atomicAdd(&bins[bin], __popc(peers));
  }
  __syncthreads();
  for (int b = threadIdx.x; b < nbins; b += kThreads)
    if (bins[b]) atomicAdd(&state->hist[b], static_cast<unsigned long long>(bins[b]));
}

// One block: the digit D holding the remaining-th largest matching element, scanning bins
// from the top; the prefix gains D, remaining loses the elements in bins above D.
__global__ void select_digit_kernel(SelectState* state, int pass, int64_t keep) {
  __shared__ unsigned long long suffix[kThreads];
  const int shift = digit_shift(pass), per = (1 << digit_bits(pass)) / kThreads;
  // Read before any thread writes the state.
  const unsigned long long remaining =
      pass == 0 ? static_cast<unsigned long long>(keep) : state->remaining;
  const unsigned int prefix = pass == 0 ? 0u : state->prefix;
  const int first_bin = threadIdx.x * per;
  unsigned long long own[kMaxBinsPerThread];
  unsigned long long sum = 0;
#pragma unroll
  for (int j = 0; j < kMaxBinsPerThread; ++j) {
    own[j] = j < per ? state->hist[first_bin + j] : 0;
    sum += own[j];
  }
  // Inclusive suffix sums of the threads' bin totals (Hillis-Steele).
  suffix[threadIdx.x] = sum;
  __syncthreads();
  for (int off = 1; off < kThreads; off *= 2) {
    const unsigned long long add = threadIdx.x + off < kThreads ? suffix[threadIdx.x + off] : 0;
    __syncthreads();
    suffix[threadIdx.x] += add;
    __syncthreads();
  }
  unsigned long long above = suffix[threadIdx.x] - sum;  // elements in higher threads' bins
#pragma unroll
  for (int j = kMaxBinsPerThread - 1; j >= 0; --j) {
    if (j < per) {
      if (above < remaining && remaining <= above + own[j]) {  // exactly one bin qualifies
        state->prefix = prefix | (static_cast<unsigned int>(first_bin + j) << shift);
        state->remaining = remaining - above;
        state->ties = own[j];
      }
      above += own[j];
      state->hist[first_bin + j] = 0;
    }
  }
}

// Block 0 only, when fewer ties than equal T are kept: each element equal to T in index
// order gets its rank among them and is kept when the rank is below `take`. Ties straddle
// the threshold rarely (equal scores: zeros, repeated values), so one block scanning the
// whole layer costs little on average and keeps the result exact.
__device__ void topk_rank_ties(const float* __restrict__ scores, const float* __restrict__ w,
                               int64_t n, uint32_t threshold, unsigned long long take,
                               uint8_t* __restrict__ mask, float* __restrict__ w_eff) {
  __shared__ unsigned int warp_ties[kWarps];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  unsigned long long taken = 0;  // ties in earlier tiles
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t i = base + threadIdx.x;
    const bool tie = i < n && abs_bits(scores[i]) == threshold;
    const unsigned int ballot = __ballot_sync(0xFFFFFFFFu, tie);
    if (lane == 0) warp_ties[warp] = __popc(ballot);
    __syncthreads();
    unsigned long long rank = taken + __popc(ballot & ((1u << lane) - 1u));
    unsigned int tile = 0;
    for (int u = 0; u < kWarps; ++u) {
      if (u < warp) rank += warp_ties[u];
      tile += warp_ties[u];
    }
    if (tie) {
      const bool kept = rank < take;
      mask[i] = kept;
      w_eff[i] = kept ? w[i] : 0.0f;
    }
    taken += tile;
    __syncthreads();  // warp_ties is rewritten by the next tile
  }
}

// mask = |s| bits above T, or equal to T among the first `remaining` such elements;
// w_eff = mask ? w : 0.
__global__ void topk_mask_kernel(const float* __restrict__ scores, const float* __restrict__ w,
                                 int64_t n, const SelectState* state, uint8_t* __restrict__ mask,
                                 float* __restrict__ w_eff) {
  const uint32_t threshold = state->prefix;
  const unsigned long long take = state->remaining;
  const bool partial = take < state->ties;  // some elements equal to T are dropped
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n; i += stride) {
    const uint32_t bits = abs_bits(scores[i]);
    if (partial && bits == threshold) continue;  // topk_rank_ties writes these
    const bool kept = bits >= threshold;
    mask[i] = kept;
    w_eff[i] = kept ? w[i] : 0.0f;
  }
  if (partial && blockIdx.x == 0) topk_rank_ties(scores, w, n, threshold, take, mask, w_eff);
}

// keep >= n (all kept) or keep <= 0 (none).
__global__ void mask_fill_kernel(const float* __restrict__ w, int64_t n, bool keep_all,
                                 uint8_t* __restrict__ mask, float* __restrict__ w_eff) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n; i += stride) {
    mask[i] = keep_all;
    w_eff[i] = keep_all ? w[i] : 0.0f;
  }
}

// Straight-through: dL/ds = dL/dw_eff * w * sign(s), sign(0) = 0 (trainer.cpp's order).
__device__ float straight_through(float grad, float w, float s) {
  const float sign = static_cast<float>((s > 0.0f) - (s < 0.0f));
  return __fmul_rn(__fmul_rn(grad, w), sign);
}

// Optimizer::update for SGD: d = g + wd p; m = first ? d : mu m + d; d = nesterov ? d + mu m : m;
// p -= lr d.
__global__ void sgd_step_kernel(ScoreTensorDevice t, SgdStep c) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < t.n; i += stride) {
    const float p = t.scores[i];
    const float g = straight_through(t.grad[i], t.weights[i], p);
    float d = __fadd_rn(g, __fmul_rn(c.weight_decay, p));
    if (c.momentum != 0.0f) {
      const float m = c.first ? d : __fadd_rn(__fmul_rn(c.momentum, t.first[i]), d);
      t.first[i] = m;
      d = c.nesterov ? __fadd_rn(d, __fmul_rn(c.momentum, m)) : m;
    }
    t.scores[i] = __fsub_rn(p, __fmul_rn(c.rate, d));
  }
}

// Optimizer::update for Adam: d = g + wd p; m = b1 m + (1-b1) d; v = b2 v + (1-b2) d d;
// p -= step_size (m / (sqrt(v) / correction2_sqrt + eps)).
__global__ void adam_step_kernel(ScoreTensorDevice t, AdamStep c) {
  const float one_minus_b1 = __fsub_rn(1.0f, c.beta1), one_minus_b2 = __fsub_rn(1.0f, c.beta2);
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < t.n; i += stride) {
    const float p = t.scores[i];
    const float g = straight_through(t.grad[i], t.weights[i], p);
    const float d = __fadd_rn(g, __fmul_rn(c.weight_decay, p));
    const float m = __fadd_rn(__fmul_rn(c.beta1, t.first[i]), __fmul_rn(one_minus_b1, d));
    const float v =
        __fadd_rn(__fmul_rn(c.beta2, t.adam_v[i]), __fmul_rn(__fmul_rn(one_minus_b2, d), d));
    t.first[i] = m;
    t.adam_v[i] = v;
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), c.correction2_sqrt), c.eps);
    t.scores[i] = __fsub_rn(p, __fmul_rn(c.step_size, __fdiv_rn(m, denom)));
  }
}

// IteRand: weights[index[j]] = values[j].
__global__ void scatter_kernel(const int64_t* __restrict__ index, const float* __restrict__ values,
                               int64_t count, float* __restrict__ weights) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t j = int64_t{blockIdx.x} * kThreads + threadIdx.x; j < count; j += stride)
    weights[index[j]] = values[j];
}

}  // namespace

ScoreKernels::ScoreKernels(cudaStream_t stream) {
  int device = 0, sms = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  // Enough blocks to fill every SM (2048 resident threads each); with n <= 2^32 a block's
  // 32-bit shared histogram then never overflows.
  max_blocks_ = sms * (2048 / kThreads);
  select_state_.resize((sizeof(SelectState) + sizeof(unsigned long long) - 1) /
                       sizeof(unsigned long long));
  CUDA_CHECK(cudaMemsetAsync(select_state_.data(), 0, select_state_.bytes(), stream));
}

int ScoreKernels::blocks(int64_t n) const {
  const int64_t needed = (n + kThreads - 1) / kThreads;
  return static_cast<int>(needed < max_blocks_ ? needed : max_blocks_);
}

void ScoreKernels::topk_mask(const float* scores, const float* weights, int64_t n, int64_t keep,
                             uint8_t* mask, float* w_eff, cudaStream_t stream) {
  if (n > (int64_t{1} << 32)) throw InvalidArgument("", "top-k: layer larger than 2^32 weights");
  if (n <= 0) return;
  const int grid = blocks(n);
  if (keep >= n || keep <= 0) {
    mask_fill_kernel<<<grid, kThreads, 0, stream>>>(weights, n, keep >= n, mask, w_eff);
    CUDA_CHECK(cudaGetLastError());
    return;
  }
  auto* state = reinterpret_cast<SelectState*>(select_state_.data());
  for (int pass = 0; pass < kPasses; ++pass) {
    select_histogram_kernel<<<grid, kThreads, 0, stream>>>(scores, n, pass, state);
    select_digit_kernel<<<1, kThreads, 0, stream>>>(state, pass, keep);
  }
  topk_mask_kernel<<<grid, kThreads, 0, stream>>>(scores, weights, n, state, mask, w_eff);
  CUDA_CHECK(cudaGetLastError());
}

void ScoreKernels::sgd_step(const ScoreTensorDevice& t, const SgdStep& c, cudaStream_t stream) {
  if (t.n <= 0) return;
  sgd_step_kernel<<<blocks(t.n), kThreads, 0, stream>>>(t, c);
  CUDA_CHECK(cudaGetLastError());
}

void ScoreKernels::adam_step(const ScoreTensorDevice& t, const AdamStep& c, cudaStream_t stream) {
  if (t.n <= 0) return;
  adam_step_kernel<<<blocks(t.n), kThreads, 0, stream>>>(t, c);
  CUDA_CHECK(cudaGetLastError());
}

void ScoreKernels::scatter(const int64_t* index, const float* values, int64_t count, float* weights,
                           cudaStream_t stream) {
  if (count <= 0) return;
  scatter_kernel<<<blocks(count), kThreads, 0, stream>>>(index, values, count, weights);
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace popup
