// Raw buffers shared by the execution plans of different batch sizes (see dnnl_arena.hpp).
#include "cpu/dnnl_arena.hpp"

#include <new>

namespace popup {

void DnnlArena::reserve(size_t slot, size_t bytes) {
  if (slot >= buffers_.size()) {
    buffers_.resize(slot + 1);
    sizes_.resize(slot + 1, 0);
  }
  if (bytes <= sizes_[slot] && buffers_[slot]) return;
  constexpr size_t alignment = 64;  // a cache line; oneDNN's own allocations use 64 too
  const size_t rounded = (bytes + alignment - 1) / alignment * alignment;
  buffers_[slot].reset();
  void* p = std::aligned_alloc(alignment, rounded > 0 ? rounded : alignment);
  if (!p) throw std::bad_alloc();
  buffers_[slot].reset(p);
  sizes_[slot] = bytes;
  ++generation_;
}

}  // namespace popup
