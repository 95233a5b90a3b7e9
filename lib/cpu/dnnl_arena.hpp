// Raw buffers shared by the execution plans of different batch sizes: slot k of every plan
// lives in the same buffer, grown to the largest size any plan asked for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

namespace popup {

class DnnlArena {
 public:
  // Grows slot `slot` to at least `bytes`. A grown buffer moves (its contents are lost) and
  // the generation changes, so plans bound to the old buffers know to bind again.
  void reserve(size_t slot, size_t bytes);
  void* data(size_t slot) const { return buffers_[slot].get(); }
  uint64_t generation() const { return generation_; }

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<void, Free>> buffers_;
  std::vector<size_t> sizes_;
  uint64_t generation_ = 0;
};

}  // namespace popup
