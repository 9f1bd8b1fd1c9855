// Crash-safe file writing shared by every writer in attn (safetensors, checkpoints, vocabularies,
// SentencePiece models, heatmaps): a file is either the old one or the complete new one, never a
// half-written mixture, whatever happens mid-write.
//
//   write_file_atomic   a unique temporary file beside the target, written, fsync'ed, renamed over
//                       the target, then the directory entry fsync'ed (best effort)
//   write_file_synced   written in place and fsync'ed: for files inside a temporary directory that
//                       publish_directory makes visible afterwards
//   publish_directory   makes a finished temporary directory visible under its final name: swaps it
//                       with the old one in one step where the kernel allows (renameat2
//                       RENAME_EXCHANGE), else moves the old one aside first; the old one is removed
//
// Errors are attn::Error naming the path, the step that failed and the system's reason, and end
// with "(nothing was written)" where the target is untouched.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace attn {

// The whole file. `what` (e.g. "the model's config") is named in errors when not empty.
std::string read_file(const std::string& path, const std::string& what = "");

void write_file_atomic(const std::string& path, std::string_view bytes);
// The concatenation of `parts`, without building it in memory first.
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts);

void write_file_synced(const std::string& path, std::string_view bytes);

// Best effort: some file systems refuse to open directories.
void fsync_directory(const std::string& dir);

void publish_directory(const std::string& tmp, const std::string& dir);

}  // namespace attn
