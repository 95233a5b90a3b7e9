// Which algorithm a convolution of a CPU plan runs (ExecutorConfig::conv_algo, DESIGN.md §7):
// oneDNN's direct convolution, its Winograd one where this CPU has it for the layer's shape
// (oneDNN 2.x: F(4x4, 3x3), f32, AVX-512 only), or popup's own Winograd F(2x2, 3x3)
// (winograd_f2x3.hpp: AVX2, 3x3 stride 1 padding 1, channels in multiples of 8); `auto` times
// those the layer can take on its shape.
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

// True when popup's own Winograd F(2x2, 3x3) takes the shape on this CPU.
bool winograd_f2x3_fits(const DnnlConvShape& shape);

// Seconds of the shape's passes with algorithm `algorithm`, each the fastest of 5 runs after 1:
// the forward with the backward-data (where the shape needs it), and apart the weight gradient
// (0 without training), which `auto` may take from popup's kernel instead.
struct DnnlConvSeconds {
  double forward_data = 0, weights = 0;
  double total() const { return forward_data + weights; }
};
DnnlConvSeconds dnnl_conv_seconds(const dnnl::engine& engine, dnnl::algorithm algorithm,
                                  const DnnlConvShape& shape);

// The algorithm one convolution runs under `requested`: direct for direct; for winograd,
// oneDNN's Winograd where available, else popup's where it fits, else direct; for automatic,
// the fastest of those the shape can take, and of oneDNN's Winograd with popup's F(4x4, 3x3)
// weight gradient where both are, as timed (remembered per shape for the life of the
// process). Never automatic.
ConvAlgo dnnl_conv_choose(const dnnl::engine& engine, ConvAlgo requested,
                          const DnnlConvShape& shape);

// oneDNN's algorithm for a plan's choice (the forward and backward-data of winograd and
// winograd_f4x3_grad; popup's F(2x2, 3x3) runs none of oneDNN's).
inline dnnl::algorithm dnnl_conv_algorithm(ConvAlgo a) {
  return a == ConvAlgo::winograd || a == ConvAlgo::winograd_f4x3_grad
             ? dnnl::algorithm::convolution_winograd
             : dnnl::algorithm::convolution_direct;
}

}  // namespace popup
