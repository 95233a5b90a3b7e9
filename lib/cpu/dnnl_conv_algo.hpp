// Which algorithm a convolution of a CPU plan runs (ExecutorConfig::conv_algo, DESIGN.md §7):
// oneDNN's direct convolution, or its Winograd one where this CPU has it for the layer's shape
// (oneDNN 2.x: F(4x4, 3x3), f32, AVX-512 only); `auto` times the two on the layer's shape.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "backend/executor.hpp"

namespace popup {

// One convolution as a plan runs it: its f32 shapes and the passes it needs.
struct DnnlConvShape {
  dnnl::memory::dims src, weights, dst, strides, pad;
  bool train = true;      // forward_training and backward-weights (else forward alone)
  bool data_grad = true;  // with train: backward-data too
};

// True when oneDNN has a Winograd implementation, other than its reference loops, of every
// pass the shape needs on this CPU.
bool dnnl_winograd_available(const dnnl::engine& engine, const DnnlConvShape& shape);

// Median seconds of the shape's passes with algorithm `algorithm` (5 runs after 1).
double dnnl_conv_seconds(const dnnl::engine& engine, dnnl::algorithm algorithm,
                         const DnnlConvShape& shape);

// The algorithm one convolution runs under `requested`: direct for direct; winograd where
// available; for automatic, the faster of the two by dnnl_conv_seconds (remembered per shape
// for the life of the process). Never automatic.
ConvAlgo dnnl_conv_choose(const dnnl::engine& engine, ConvAlgo requested,
                          const DnnlConvShape& shape);

inline dnnl::algorithm dnnl_conv_algorithm(ConvAlgo a) {
  return a == ConvAlgo::winograd ? dnnl::algorithm::convolution_winograd
                                 : dnnl::algorithm::convolution_direct;
}

}  // namespace popup
