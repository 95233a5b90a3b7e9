// popup's file kinds on top of the safetensors container (formats/recipe.md, weights.md,
// scores.md, mask.md): metadata keys, versions, CRC, and the tensor layout of each kind.
// Readers validate everything before returning; writers write atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/recipe.hpp"
#include "format/safetensors.hpp"

namespace popup {

enum class FileKind { recipe, weights, scores, mask, checkpoint };

// Highest popup.version of each kind this build reads: 2 for masks and checkpoints (version 2
// adds IteRand's redraw record, popup.redraw), 1 for the others. Writers write 2 exactly when
// the metadata holds popup.redraw, else 1.
int format_version_max(FileKind kind);

const char* kind_name(FileKind kind);

// One tensor of a popup file, its data in the vector matching its dtype.
struct Tensor {
  TensorInfo info;
  std::vector<float> f32;   // dtype F32
  std::vector<uint8_t> u8;  // dtype U8
};

struct PopupFile {
  std::string path;
  FileKind kind = FileKind::recipe;
  int version = 0;
  Recipe recipe;
  Metadata metadata;            // every key, the recipe's included
  std::vector<Tensor> tensors;  // file order; empty when read without data
};

// Read and validate a whole popup file ("-" = stdin): container, popup.kind, popup.version,
// popup.crc32, the recipe, and the tensor layout of its kind. With keep_data false the data is
// still read and checked, but not kept. Throws FormatError / VersionError / IoError.
PopupFile popup_file_read(const std::string& path, bool keep_data = true);
// As above, and the file must be of kind `expected` (else FormatError naming both kinds).
PopupFile popup_file_read(const std::string& path, FileKind expected, bool keep_data = true);

// Writers: path "-" = stdout (refused on a terminal). `extra` metadata (e.g. popup.train.*)
// is added to the recipe keys. The OutputFile forms write and commit an output opened before
// the work began (so an unwritable path fails at once, and a killed run leaves nothing).
void recipe_write(const std::string& path, const Recipe& recipe);
void recipe_write(OutputFile& out, const Recipe& recipe);
void weights_write(const std::string& path, const Recipe& recipe,
                   const std::vector<std::vector<float>>& tensors);
void weights_write(OutputFile& out, const Recipe& recipe,
                   const std::vector<std::vector<float>>& tensors);
void scores_write(const std::string& path, const Recipe& recipe,
                  const std::vector<std::vector<float>>& scores, const Metadata& extra);
void scores_write(OutputFile& out, const Recipe& recipe,
                  const std::vector<std::vector<float>>& scores, const Metadata& extra);

// Write any kind: recipe keys + `extra` + popup.kind, popup.version and popup.crc32, then the
// tensors; atomically for a named path.
void popup_file_write(OutputFile& out, FileKind kind, const Recipe& recipe, const Metadata& extra,
                      const std::vector<TensorRef>& tensors);
void popup_file_write(const std::string& path, FileKind kind, const Recipe& recipe,
                      const Metadata& extra, const std::vector<TensorRef>& tensors);

// The weights of `recipe`, generated tensor by tensor into one buffer the size of the largest
// tensor (twice: once for the CRC in the header, once to write): bytes identical to
// weights_write(out, recipe, recipe_generate(recipe)), in a fraction of the memory.
void weights_write_generated(OutputFile& out, const Recipe& recipe);

// The weight tensors of a weights file (or the logits of a scores file), in network order,
// without the state tensors a trained weights file may add (state_take).
std::vector<std::vector<float>> weights_from_file(PopupFile&& file);

// The frozen weights a file stands for: a weights file's tensors, which must be what its
// recipe generates (MismatchError otherwise: results record only the recipe); for any other
// kind, generated from its recipe.
std::vector<std::vector<float>> weights_of(const PopupFile& file);

}  // namespace popup
