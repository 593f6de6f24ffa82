#include "runtime/real/disk.h"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/real/errno.h"

namespace weir::runtime::real {

namespace {

constexpr mode_t file_mode = 0644;
constexpr mode_t directory_mode = 0755;

// A directory argument: "" and "." mean the root itself.
bool valid_directory_path(const std::string& path) {
  return path.empty() || path == "." || valid_relative_path(path);
}

const char* directory_argument(const std::string& path) {
  return path.empty() ? "." : path.c_str();
}

// An open descriptor, closed when its last owner lets go: the file, and while a sync
// runs, the worker's job too (the fiber may be cancelled and close the file meanwhile).
// Sharing it rather than dup()ing it for the job means a sync needs no descriptor of its
// own, so it cannot fail with EMFILE when the process is out of them.
struct Descriptor {
  explicit Descriptor(int descriptor) : fd(descriptor) { VERIFY(fd >= 0); }
  ~Descriptor() { ::close(fd); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  const int fd;
};

class RealFile final : public File {
 public:
  RealFile(BlockingWorker& worker, int fd)
      : worker_(worker), descriptor_(std::make_shared<const Descriptor>(fd)), fd_(fd) {}
  ~RealFile() override { close(); }

  IoResult<size_t> read_at(uint64_t offset, std::span<std::byte> buffer) override {
    size_t done = 0;
    while (done < buffer.size()) {
      if (fd_ < 0) return unexpected(IoError::closed);
      const ssize_t n = ::pread(fd_, buffer.data() + done, buffer.size() - done,
                                static_cast<off_t>(offset + done));
      if (n == 0) break;  // end of file
      if (n < 0) {
        if (errno == EINTR) continue;
        return unexpected(io_error_from_errno(errno));
      }
      done += static_cast<size_t>(n);
    }
    VERIFY(done <= buffer.size());
    return done;
  }

  IoResult<void> write_at(uint64_t offset, std::span<const std::byte> bytes) override {
    size_t done = 0;
    while (done < bytes.size()) {
      if (fd_ < 0) return unexpected(IoError::closed);
      const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done,
                                 static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return unexpected(io_error_from_errno(errno));
      }
      VERIFY(n > 0, "pwrite of a non-empty buffer wrote nothing");
      done += static_cast<size_t>(n);
    }
    return {};
  }

  IoResult<uint64_t> size() override {
    if (fd_ < 0) return unexpected(IoError::closed);
    struct stat status {};
    if (::fstat(fd_, &status) != 0) return unexpected(io_error_from_errno(errno));
    VERIFY(status.st_size >= 0);
    return static_cast<uint64_t>(status.st_size);
  }

  IoResult<void> truncate(uint64_t new_size) override {
    if (fd_ < 0) return unexpected(IoError::closed);
    if (::ftruncate(fd_, static_cast<off_t>(new_size)) != 0) {
      return unexpected(io_error_from_errno(errno));
    }
    return {};
  }

  IoResult<void> sync() override {
    if (fd_ < 0) return unexpected(IoError::closed);
    const int error = worker_.run_and_wait([descriptor = descriptor_] {
      const int rc = ::fdatasync(descriptor->fd);
      return rc == 0 ? 0 : errno;
    });
    if (error != 0) return unexpected(io_error_from_errno(error));
    return {};
  }

  // The descriptor closes now, or when a sync under way ends.
  void close() override {
    if (fd_ < 0) return;
    descriptor_.reset();
    fd_ = -1;
  }

 private:
  BlockingWorker& worker_;
  std::shared_ptr<const Descriptor> descriptor_;
  int fd_;  // descriptor_->fd while open, -1 once closed
};

}  // namespace

bool valid_relative_path(const std::string& path) {
  if (path.empty() || path.front() == '/') return false;
  size_t start = 0;
  while (true) {
    const size_t end = path.find('/', start);
    const std::string_view component =
        std::string_view(path).substr(start, end == std::string::npos ? end : end - start);
    if (component.empty() || component == "." || component == "..") return false;
    if (component.find('\0') != std::string_view::npos) return false;
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

IoResult<std::unique_ptr<RealDisk>> RealDisk::open_root(BlockingWorker& worker,
                                                        const std::string& root) {
  if (root.empty()) return unexpected(IoError::invalid);
  // mkdir -p on the absolute or relative root.
  for (size_t slash = root.find('/', 1); ; slash = root.find('/', slash + 1)) {
    const std::string prefix = root.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), directory_mode) != 0 && errno != EEXIST) {
      return unexpected(io_error_from_errno(errno));
    }
    if (slash == std::string::npos) break;
  }
  const int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return unexpected(io_error_from_errno(errno));
  return std::unique_ptr<RealDisk>(new RealDisk(worker, root, fd));
}

RealDisk::~RealDisk() { ::close(root_fd_); }

IoResult<std::unique_ptr<File>> RealDisk::open(const std::string& path, OpenMode mode) {
  if (!valid_relative_path(path)) return unexpected(IoError::invalid);
  int flags = O_RDWR | O_CLOEXEC;
  switch (mode) {
    case OpenMode::read_write: break;
    case OpenMode::create: flags |= O_CREAT; break;
    case OpenMode::create_exclusive: flags |= O_CREAT | O_EXCL; break;
  }
  const int fd = ::openat(root_fd_, path.c_str(), flags, file_mode);
  if (fd < 0) return unexpected(io_error_from_errno(errno));
  return std::unique_ptr<File>(std::make_unique<RealFile>(worker_, fd));
}

IoResult<void> RealDisk::remove(const std::string& path) {
  if (!valid_relative_path(path)) return unexpected(IoError::invalid);
  if (::unlinkat(root_fd_, path.c_str(), 0) == 0) return {};
  // Linux says EISDIR for a directory; an empty one is removed like a file.
  if (errno == EISDIR && ::unlinkat(root_fd_, path.c_str(), AT_REMOVEDIR) == 0) return {};
  return unexpected(io_error_from_errno(errno));
}

IoResult<void> RealDisk::rename(const std::string& from, const std::string& to) {
  if (!valid_relative_path(from) || !valid_relative_path(to)) {
    return unexpected(IoError::invalid);
  }
  if (::renameat(root_fd_, from.c_str(), root_fd_, to.c_str()) != 0) {
    return unexpected(io_error_from_errno(errno));
  }
  return {};
}

IoResult<std::vector<std::string>> RealDisk::list(const std::string& directory) {
  if (!valid_directory_path(directory)) return unexpected(IoError::invalid);
  const int fd = ::openat(root_fd_, directory_argument(directory),
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return unexpected(io_error_from_errno(errno));
  DIR* stream = ::fdopendir(fd);
  if (stream == nullptr) {
    const int saved = errno;
    ::close(fd);
    return unexpected(io_error_from_errno(saved));
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
    errno = 0;
  }
  const int saved = errno;
  ::closedir(stream);  // also closes fd
  if (saved != 0) return unexpected(io_error_from_errno(saved));
  // readdir order is the file system's hash order; callers get a stable one.
  std::sort(names.begin(), names.end());
  return names;
}

IoResult<void> RealDisk::make_directories(const std::string& directory) {
  if (!valid_directory_path(directory)) return unexpected(IoError::invalid);
  if (directory.empty() || directory == ".") return {};
  for (size_t slash = directory.find('/'); ; slash = directory.find('/', slash + 1)) {
    const std::string prefix = directory.substr(0, slash);
    if (::mkdirat(root_fd_, prefix.c_str(), directory_mode) != 0) {
      if (errno != EEXIST) return unexpected(io_error_from_errno(errno));
      struct stat status {};
      if (::fstatat(root_fd_, prefix.c_str(), &status, 0) != 0) {
        return unexpected(io_error_from_errno(errno));
      }
      if (!S_ISDIR(status.st_mode)) return unexpected(IoError::exists);
    }
    if (slash == std::string::npos) break;
  }
  return {};
}

IoResult<void> RealDisk::sync_directory(const std::string& directory) {
  if (!valid_directory_path(directory)) return unexpected(IoError::invalid);
  const int fd = ::openat(root_fd_, directory_argument(directory),
                          O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return unexpected(io_error_from_errno(errno));
  // The job owns fd (see RealFile::sync).
  const int error = worker_.run_and_wait([fd] {
    const int rc = ::fsync(fd);
    const int saved = rc == 0 ? 0 : errno;
    ::close(fd);
    return saved;
  });
  if (error != 0) return unexpected(io_error_from_errno(error));
  return {};
}

IoResult<bool> RealDisk::exists(const std::string& path) {
  if (!valid_directory_path(path)) return unexpected(IoError::invalid);
  struct stat status {};
  if (::fstatat(root_fd_, directory_argument(path), &status, AT_SYMLINK_NOFOLLOW) == 0) {
    return true;
  }
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return unexpected(io_error_from_errno(errno));
}

}  // namespace weir::runtime::real
