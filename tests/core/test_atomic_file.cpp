// Tests for atomic file writes.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"
#include "support/test_paths.h"

namespace fs = std::filesystem;
using dsla::testing::make_temp_dir;
using dsla::testing::read_file;

TEST(AtomicFile, WritesAndReplacesWithoutLeavingTempFiles) {
  fs::path dir = make_temp_dir("atomic");
  fs::path f = dir / "sub" / "out.txt";
  dsla::write_text_atomically(f, "first");
  EXPECT_EQ(read_file(f), "first");
  dsla::write_text_atomically(f, "second, longer");
  EXPECT_EQ(read_file(f), "second, longer");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir / "sub")) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, FailedWriteKeepsTheOldFile) {
  fs::path dir = make_temp_dir("atomic-fail");
  fs::path f = dir / "out.txt";
  dsla::write_text_atomically(f, "kept");
  EXPECT_THROW(dsla::write_file_atomically(f,
                                           [](std::ostream& out) {
                                             out << "partial";
                                             throw dsla::Error("writer failed");
                                           }),
               dsla::Error);
  EXPECT_EQ(read_file(f), "kept");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
  fs::remove_all(dir);
}

TEST(AtomicFile, UnwritableDirectoryIsAClearError) {
  fs::path dir = make_temp_dir("atomic-bad");
  dsla::write_text_atomically(dir / "file", "x");
  try {
    dsla::write_text_atomically(dir / "file" / "child.txt", "y");  // parent is a regular file
    FAIL() << "expected an error";
  } catch (const dsla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("file"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}
