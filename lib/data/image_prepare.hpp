// One example of a streamed image-folder data set (DESIGN.md §6): a JPEG or PNG file's bytes
// turned into the network's input [3, S, S], normalised, with torchvision's ImageNet
// transforms: RandomResizedCrop + horizontal flip for training, Resize + CenterCrop for
// evaluation. Decoding is in image_decode.hpp, the geometry in image_transform.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_random.hpp"

namespace popup {

class ImageDecoder;

// What every example of a split is turned into.
struct ImageTransform {
  int64_t size = 224;    // output S x S
  int64_t resize = 256;  // evaluation: the shorter side before the centre crop
  float mean[3] = {0.485f, 0.456f, 0.406f};
  float stddev[3] = {0.229f, 0.224f, 0.225f};
  // JPEG only. scaled_decode: decode at 1/2, 1/4 or 1/8 of the size (libjpeg's DCT scaling)
  // when the training crop still has at least `size` pixels a side at that scale: several
  // times faster on large photographs, but the pixels then differ from torchvision's (which
  // decodes at full size): on generated photo-like images a mean of 0.9 levels, at most about 40
  // near hard edges (scripts/pil-compare.py). scaled_decode_eval: the same for evaluation, when
  // the shorter side stays at least `resize`; off by default, so that evaluation gives
  // torchvision's numbers. crop_decode: decode only the rows and columns used (the same pixels,
  // less work). With the scaled decodings off, the outputs equal torchvision 0.14's with PIL.
  bool scaled_decode = true;
  bool scaled_decode_eval = false;
  bool crop_decode = true;
};

// Buffers one worker reuses from image to image (decoded pixels, resize intermediates), so
// that a worker allocates only when an image is larger than any before.
struct ImageScratch {
  std::vector<uint8_t> decoded, resized;
  std::vector<uint8_t> between;  // the resize's horizontal pass
};

// Training: the crop and flip drawn for (seed, epoch, example) from the data stream
// (data_random.hpp, kImageCropTensor + epoch), so the result is the same on any worker and
// any thread count; `example` is the example's index in the split (not its position in the
// epoch). Evaluation: no draw. `data`/`size`: the whole file; `name` names it in errors.
// `out`: [3, S, S]. Throws FormatError naming `name` when the bytes are not a valid JPEG or
// PNG, or the image is larger than the decoders' limits.
void image_prepare_train(const uint8_t* data, size_t size, const std::string& name,
                         const ImageTransform& t, uint64_t seed, int64_t epoch, int64_t example,
                         ImageScratch& scratch, float* out);
void image_prepare_eval(const uint8_t* data, size_t size, const std::string& name,
                        const ImageTransform& t, ImageScratch& scratch, float* out);

// Training's transform with a given crop (and flip) of the image `decoder` holds (its header
// read, not yet decoded): image_prepare_train after its draw. For tests and comparisons.
void image_prepare_crop(ImageDecoder& decoder, const ImageTransform& t, const ImageCropDraw& crop,
                        ImageScratch& scratch, float* out);

}  // namespace popup
