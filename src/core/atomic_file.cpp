// Implementation of atomic_file.h over POSIX fsync/rename.
#include "core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

#include "core/error.h"

namespace fs = std::filesystem;

namespace dsla {
namespace {

void fsync_path(const fs::path& p, int flags) {
  int fd = ::open(p.c_str(), flags);
  DSLA_CHECK(fd >= 0, "cannot open {} to sync it: {}", p.string(), std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  DSLA_CHECK(rc == 0, "fsync of {} failed: {}", p.string(), std::strerror(errno));
}

}  // namespace

void write_file_atomically(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  fs::create_directories(dir, ec);
  DSLA_CHECK(!ec, "cannot create directory {}: {}", dir.string(), ec.message());
  fs::path tmp = dir / fmt::format(".{}.tmp{}", path.filename().string(), std::random_device{}());
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      DSLA_CHECK(out.good(), "cannot create {}: {}", tmp.string(), std::strerror(errno));
      write(out);
      out.flush();
      DSLA_CHECK(out.good(), "writing {} failed (disk full?)", tmp.string());
    }
    fsync_path(tmp, O_RDONLY);
    fs::rename(tmp, path, ec);
    DSLA_CHECK(!ec, "cannot rename {} to {}: {}", tmp.string(), path.string(), ec.message());
    fsync_path(dir, O_RDONLY | O_DIRECTORY);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void write_text_atomically(const fs::path& path, std::string_view contents) {
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  });
}

}  // namespace dsla
