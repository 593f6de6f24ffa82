#include "runtime/real/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "runtime/real/errno.h"

namespace weir::runtime::real {

namespace {
IoResult<void> write_fully(int fd, std::string_view text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return unexpected(io_error_from_errno(errno));
    }
    done += static_cast<size_t>(n);
  }
  return {};
}
}  // namespace

IoResult<std::string> read_text_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return unexpected(io_error_from_errno(errno));
  std::string text;
  char buffer[64 * 1024];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      return unexpected(io_error_from_errno(saved));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return text;
}

IoResult<void> write_text_file(const std::string& path, std::string_view text) {
  if (path.empty() || path.back() == '/') return unexpected(IoError::invalid);
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return unexpected(io_error_from_errno(errno));
  IoResult<void> written = write_fully(fd, text);
  if (written && ::fsync(fd) != 0) written = unexpected(io_error_from_errno(errno));
  ::close(fd);
  if (!written) {
    ::unlink(temporary.c_str());
    return written;
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temporary.c_str());
    return unexpected(io_error_from_errno(saved));
  }
  const size_t slash = path.rfind('/');
  const std::string directory = slash == std::string::npos ? "." :
                                slash == 0 ? "/" : path.substr(0, slash);
  const int directory_fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_fd < 0) return unexpected(io_error_from_errno(errno));
  const int rc = ::fsync(directory_fd);
  const int saved = errno;
  ::close(directory_fd);
  if (rc != 0) return unexpected(io_error_from_errno(saved));
  return {};
}

void print_stderr(std::string_view text) {
  // Nothing sensible can be done if stderr itself fails.
  [[maybe_unused]] const IoResult<void> ignored = write_fully(2, text);
}

}  // namespace weir::runtime::real
