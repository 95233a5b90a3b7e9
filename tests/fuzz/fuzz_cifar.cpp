// Fuzz target: CIFAR binary batches (cifar_read). The first byte chooses CIFAR-100 (odd) or
// CIFAR-10; the rest is cut at the separator POPUPSEP into the batch files (six for CIFAR-10,
// train.bin and test.bin for CIFAR-100).
#include "data/cifar.hpp"
#include "error.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool fine = data[0] & 1;
  static const char* const ten[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                    "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
  static const char* const hundred[] = {"train.bin", "test.bin"};
  const size_t parts = fine ? 2 : 6;
  const std::vector<std::string> pieces = popup_fuzz::fuzz_split(data + 1, size - 1, parts);
  const std::string folder = fine ? "cifar100" : "cifar10";
  const std::string dir = popup_fuzz::fuzz_folder(folder);
  for (size_t i = 0; i < parts; ++i)
    popup_fuzz::fuzz_write(folder + "/" + (fine ? hundred[i] : ten[i]),
                           reinterpret_cast<const uint8_t*>(pieces[i].data()), pieces[i].size());
  try {
    const popup::RawDataset d = popup::cifar_read(dir, fine);
    for (const popup::RawSplit* s : {&d.train, &d.test})
      if (s->pixels.size() != static_cast<size_t>(s->n * s->example_size()) ||
          s->labels.size() != static_cast<size_t>(s->n))
        __builtin_trap();
  } catch (const popup::Error&) {
  }
  return 0;
}
