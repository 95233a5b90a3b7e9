// The CUDA executor's input: a batch copied from host arrays through a pinned staging slot,
// or cut on the device from a data split uploaded once (data_upload).
#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/executor_cuda_impl.hpp"
#include "error.hpp"
#include "train/softmax_cross_entropy.hpp"

namespace popup {
namespace cuda_impl {

namespace {

std::string shape_text(const InputShape& s) {
  return std::to_string(s.c) + "x" + std::to_string(s.h) + "x" + std::to_string(s.w);
}

}  // namespace

// The split stays on the device when it fits beside what training needs: a tenth of the
// card's memory, at least 1 GiB, is left for cuDNN's workspaces and other processes.
int ExecutorCudaImpl::data_upload(const DataSplit& split) {
  const DeviceScope scope(device_);
  const InputShape& in = net_.input;
  if (split.shape.c != in.c || split.shape.h != in.h || split.shape.w != in.w)
    throw MismatchError("", "data of shape " + shape_text(split.shape) +
                                " for a network whose input is " + shape_text(in));
  if (split.n == 0 || split.streamed()) return -1;  // streamed: batches come from the host
  labels_check(split.labels.data(), split.n, net_.classes);
  const size_t bytes = split.pixels.size() * sizeof(float) + split.labels.size() * sizeof(int32_t);
  size_t free = 0, total = 0;
  CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const size_t reserve = std::max<size_t>(total / 10, size_t{1} << 30);
  if (free < reserve || bytes > free - reserve) return -1;
  DeviceSplit d;
  d.n = split.n;
  const std::vector<float> images = split.images(), padding = split.padding();
  d.images.resize(images.size());
  d.labels.resize(split.labels.size());
  d.padding.resize(padding.size());
  CUDA_CHECK(cudaMemcpyAsync(d.images.data(), images.data(), d.images.bytes(),
                             cudaMemcpyHostToDevice, stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(d.labels.data(), split.labels.data(), d.labels.bytes(),
                             cudaMemcpyHostToDevice, stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(d.padding.data(), padding.data(), d.padding.bytes(),
                             cudaMemcpyHostToDevice, stream_.get()));
  host_copies_wait();
  splits_.push_back(std::move(d));
  return static_cast<int>(splits_.size()) - 1;
}

// Examples and draws -> pinned slot -> device, then the batch is cut on the device.
void ExecutorCudaImpl::examples_stage(const DeviceSplit& split, const int64_t* examples,
                                      const AugmentDraw* draws, int64_t n) {
  Staging& s = staging_[static_cast<size_t>(staging_next_)];
  staging_next_ ^= 1;
  CUDA_CHECK(cudaEventSynchronize(s.copied.get()));
  std::memcpy(s.examples.data(), examples, static_cast<size_t>(n) * sizeof(int64_t));
  CUDA_CHECK(cudaMemcpyAsync(gather_examples_.data(), s.examples.data(),
                             static_cast<size_t>(n) * sizeof(int64_t), cudaMemcpyHostToDevice,
                             stream_.get()));
  if (draws) {
    for (int64_t k = 0; k < n; ++k) {
      s.draws.data()[3 * k] = static_cast<int32_t>(draws[k].dy);
      s.draws.data()[3 * k + 1] = static_cast<int32_t>(draws[k].dx);
      s.draws.data()[3 * k + 2] = draws[k].flip ? 1 : 0;
    }
    CUDA_CHECK(cudaMemcpyAsync(gather_draws_.data(), s.draws.data(),
                               static_cast<size_t>(3 * n) * sizeof(int32_t), cudaMemcpyHostToDevice,
                               stream_.get()));
  }
  CUDA_CHECK(cudaEventRecord(s.copied.get(), stream_.get()));
  const InputShape& in = net_.input;
  examples_gather(split.images.data(), split.labels.data(), gather_examples_.data(),
                  draws ? gather_draws_.data() : nullptr, split.padding.data(), n, in.c, in.h, in.w,
                  kAugmentPad, images_.data(), labels_.data(), stream_.get());
}

// Host arrays -> pinned slot -> device, asynchronously. The slot's previous copy (two
// forwards back) must have finished before the slot is overwritten.
void ExecutorCudaImpl::input_stage(const float* images, const int32_t* labels, int64_t n) {
  Staging& s = staging_[static_cast<size_t>(staging_next_)];
  staging_next_ ^= 1;
  CUDA_CHECK(cudaEventSynchronize(s.copied.get()));
  const size_t image_bytes = static_cast<size_t>(n * per_example(-1)) * sizeof(float);
  const size_t label_bytes = static_cast<size_t>(n) * sizeof(int32_t);
  std::memcpy(s.images.data(), images, image_bytes);
  std::memcpy(s.labels.data(), labels, label_bytes);
  CUDA_CHECK(cudaMemcpyAsync(images_.data(), s.images.data(), image_bytes, cudaMemcpyHostToDevice,
                             stream_.get()));
  CUDA_CHECK(cudaMemcpyAsync(labels_.data(), s.labels.data(), label_bytes, cudaMemcpyHostToDevice,
                             stream_.get()));
  CUDA_CHECK(cudaEventRecord(s.copied.get(), stream_.get()));
}

}  // namespace cuda_impl
}  // namespace popup
