#include "dsm/fault/uffd.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace dsm::uffd {
namespace {

base::Status ioctl_status(int fd, unsigned long request, void* arg, const char* what) {
  if (::ioctl(fd, request, arg) == 0) return {};
  return base::Error::from_errno(what);
}

}  // namespace

base::StatusOr<base::UniqueFd> open(uint64_t features, uint64_t optional) {
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) return base::Error::from_errno("userfaultfd");
  base::UniqueFd owned(fd);
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features | optional;
  if (optional != 0 && ::ioctl(fd, UFFDIO_API, &api) == 0) {
    if ((api.features & features) != features) {
      return base::Error("UFFDIO_API: kernel lacks requested userfaultfd features", ENOTSUP);
    }
    return owned;
  }
  api = {};
  api.api = UFFD_API;
  api.features = features;
  TRY(ioctl_status(fd, UFFDIO_API, &api, "UFFDIO_API"));
  if ((api.features & features) != features) {
    return base::Error("UFFDIO_API: kernel lacks requested userfaultfd features", ENOTSUP);
  }
  return owned;
}

base::StatusOr<bool> handshake(int fd, uint64_t features, uint64_t optional) {
  if (optional != 0) {
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = features | optional;
    if (::ioctl(fd, UFFDIO_API, &api) == 0) return true;
    // Refused: the kernel lacks `optional` (try without), or done already.
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = features;
  if (::ioctl(fd, UFFDIO_API, &api) == 0) return true;
  // A second UFFDIO_API on one context is refused; the creator already chose.
  if (errno == EINVAL || errno == EPERM) return false;
  return base::Error::from_errno("UFFDIO_API");
}

base::Status register_range(int fd, uint64_t addr, uint64_t len) {
  uffdio_register reg{};
  reg.range = {addr, len};
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
  TRY(ioctl_status(fd, UFFDIO_REGISTER, &reg, "UFFDIO_REGISTER"));
  const uint64_t need = (uint64_t{1} << _UFFDIO_COPY) | (uint64_t{1} << _UFFDIO_WRITEPROTECT) |
                        (uint64_t{1} << _UFFDIO_WAKE);
  if ((reg.ioctls & need) != need) {
    return base::Error("UFFDIO_REGISTER: range lacks COPY/WRITEPROTECT/WAKE", ENOTSUP);
  }
  return {};
}

base::Status unregister_range(int fd, uint64_t addr, uint64_t len) {
  uffdio_range range{addr, len};
  return ioctl_status(fd, UFFDIO_UNREGISTER, &range, "UFFDIO_UNREGISTER");
}

base::Status copy(int fd, uint64_t dst, const void* src, uint64_t len, bool write_protect,
                  bool wake, uint64_t* copied) {
  uffdio_copy c{};
  c.dst = dst;
  c.src = reinterpret_cast<uint64_t>(src);
  c.len = len;
  c.mode = (write_protect ? UFFDIO_COPY_MODE_WP : 0) | (wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE);
  if (copied != nullptr) *copied = 0;
  for (;;) {
    if (::ioctl(fd, UFFDIO_COPY, &c) == 0) {
      if (copied != nullptr) *copied += c.len;
      return {};
    }
    // EAGAIN: the mm changed under us (or a partial copy); retry the rest.
    if (errno == EAGAIN) {
      if (c.copy > 0) {
        if (copied != nullptr) *copied += static_cast<uint64_t>(c.copy);
        c.dst += c.copy;
        c.src += c.copy;
        c.len -= c.copy;
      }
      c.copy = 0;
      continue;
    }
    return base::Error::from_errno("UFFDIO_COPY");
  }
}

base::Status write_protect(int fd, uint64_t addr, uint64_t len, bool protect, bool wake) {
  uffdio_writeprotect wp{};
  wp.range = {addr, len};
  wp.mode = (protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0) |
            (!protect && !wake ? UFFDIO_WRITEPROTECT_MODE_DONTWAKE : 0);
  for (;;) {
    if (::ioctl(fd, UFFDIO_WRITEPROTECT, &wp) == 0) return {};
    if (errno == EAGAIN) continue;
    return base::Error::from_errno("UFFDIO_WRITEPROTECT");
  }
}

base::Status wake(int fd, uint64_t addr, uint64_t len) {
  uffdio_range range{addr, len};
  return ioctl_status(fd, UFFDIO_WAKE, &range, "UFFDIO_WAKE");
}

base::Status poison(int fd, uint64_t addr, uint64_t len) {
  uffdio_poison p{};
  p.range = {addr, len};
  p.mode = 0;
  for (;;) {
    if (::ioctl(fd, UFFDIO_POISON, &p) == 0) return {};
    if (errno == EAGAIN) {
      if (p.updated > 0) {
        p.range.start += static_cast<uint64_t>(p.updated);
        p.range.len -= static_cast<uint64_t>(p.updated);
      }
      p.updated = 0;
      continue;
    }
    return base::Error::from_errno("UFFDIO_POISON");
  }
}

}  // namespace dsm::uffd
