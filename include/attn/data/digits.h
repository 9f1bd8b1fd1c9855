// The 8x8 handwritten digits set (UCI "Optical Recognition of Handwritten Digits", test part, as
// shipped by scikit-learn; data/digits.csv.gz, origin and licence in data/README.md).
//
// File format: one sample per line, 65 comma-separated integers: 64 pixel counts 0..16 (an 8x8
// image, row-major) followed by the class label 0..9. The file may be gzip-compressed (read with
// zlib) or plain text. A final empty line is allowed; nothing else is skipped.
//
// load_digits returns images [N, 1, 8, 8] float32 scaled to [0, 1] (count / 16) and labels [N]
// int64, in file order. It is a loader, not a data pipeline: no split, no shuffling, no
// augmentation (train/digits.h splits by seed).
//
// Errors (attn::Error): a missing or unreadable file names the path; a malformed row (wrong
// number of fields, a non-integer, a value out of range) names the path and the 1-based line; a
// truncated or corrupt gzip stream names the path and zlib's message.
#pragma once
#include <string>

#include "attn/core/tensor.h"

namespace attn::data {

struct Digits {
  Tensor images;  // [N, 1, 8, 8] float32, pixel counts / 16, so in [0, 1]
  Tensor labels;  // [N] int64, 0..9
};

Digits load_digits(const std::string& path);

}  // namespace attn::data
