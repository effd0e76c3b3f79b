// Atomic file writes: temp file in the same directory, fsync, rename, fsync of the directory.
#pragma once

#include <filesystem>
#include <functional>
#include <ostream>
#include <string_view>

namespace dsla {

/// Writes `path` atomically: `write` fills a stream on a temp file, which is fsynced and renamed
/// over `path`. A reader sees the old file or the complete new one, never a partial one. Throws
/// dsla::Error on failure.
void write_file_atomically(const std::filesystem::path& path,
                           const std::function<void(std::ostream&)>& write);

/// Convenience: writes `contents` atomically.
void write_text_atomically(const std::filesystem::path& path, std::string_view contents);

}  // namespace dsla
