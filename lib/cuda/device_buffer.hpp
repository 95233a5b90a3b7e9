// Owning arrays in GPU memory (cudaMalloc) and in pinned host memory (cudaMallocHost).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "cuda/cuda_check.hpp"

namespace popup {

template <typename T, bool Pinned = false>
class CudaArray {
 public:
  CudaArray() = default;
  explicit CudaArray(size_t n) { resize(n); }
  ~CudaArray() { release(); }
  CudaArray(CudaArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  CudaArray& operator=(CudaArray&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  CudaArray(const CudaArray&) = delete;
  CudaArray& operator=(const CudaArray&) = delete;

  // Reallocates (contents lost) when n differs from the current size.
  void resize(size_t n) {
    if (n == size_) return;
    release();
    if (n == 0) return;
    void* p = nullptr;
    if (Pinned)
      CUDA_CHECK(cudaMallocHost(&p, n * sizeof(T)));
    else
      CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
    data_ = static_cast<T*>(p);
    size_ = n;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

 private:
  void release() noexcept {
    if (!data_) return;
    if (Pinned)
      cudaFreeHost(data_);
    else
      cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  size_t size_ = 0;
};

template <typename T>
using DeviceArray = CudaArray<T, false>;
template <typename T>
using PinnedArray = CudaArray<T, true>;

}  // namespace popup
