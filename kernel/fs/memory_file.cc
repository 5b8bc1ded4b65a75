#include "kernel/fs/memory_file.h"

#include <dirent.h>
#include <fcntl.h>

#include <cstddef>
#include <cstring>

namespace kernel::fs {
namespace {

class TextFile : public File {
 public:
  TextFile(std::string path, std::string contents, mode_t mode)
      : File(std::move(path), O_RDONLY), data_(std::move(contents)), mode_(mode) {}
  Result<uint64_t> read(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    uint64_t n = TRY(pread(mm, buf, len, off_));
    off_ += n;
    return n;
  }
  Result<uint64_t> pread(mm::MemoryManager& mm, uint64_t buf, uint64_t len, uint64_t off) override {
    if (off >= data_.size()) return 0;
    uint64_t n = std::min<uint64_t>(len, data_.size() - off);
    TRY(mm.copy_out(buf, data_.data() + off, n));
    return n;
  }
  Result<uint64_t> write(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EBADF); }
  Result<uint64_t> lseek(int64_t off, int whence) override {
    int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? off_ : data_.size();
    if (whence > SEEK_END || base + off < 0) return Errno(EINVAL);
    off_ = base + off;
    return off_;
  }
  Result<struct stat> stat() override {
    struct stat st = {};
    st.st_mode = S_IFREG | mode_;
    st.st_nlink = 1;
    st.st_blksize = 4096;
    return st;
  }

 private:
  std::string data_;
  mode_t mode_;
  uint64_t off_ = 0;
};

class DirFile : public File {
 public:
  DirFile(std::string path, std::vector<DirEntry> entries)
      : File(std::move(path), O_RDONLY | O_DIRECTORY), entries_(std::move(entries)) {}
  Result<uint64_t> read(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EISDIR); }
  Result<uint64_t> write(mm::MemoryManager&, uint64_t, uint64_t) override { return Errno(EBADF); }
  Result<uint64_t> lseek(int64_t off, int whence) override {
    if (whence != SEEK_SET || off < 0) return Errno(EINVAL);
    next_ = off;
    return next_;
  }
  Result<uint64_t> getdents64(mm::MemoryManager& mm, uint64_t buf, uint64_t len) override {
    std::vector<char> out;
    while (next_ < entries_.size()) {
      const DirEntry& e = entries_[next_];
      size_t reclen = (offsetof(struct dirent64, d_name) + e.name.size() + 1 + 7) & ~size_t{7};
      if (out.size() + reclen > len) break;
      size_t at = out.size();
      out.resize(at + reclen, 0);
      struct dirent64 d = {};
      d.d_ino = e.ino;
      d.d_off = static_cast<int64_t>(next_ + 1);
      d.d_reclen = static_cast<unsigned short>(reclen);
      d.d_type = e.type;
      std::memcpy(out.data() + at, &d, offsetof(struct dirent64, d_name));
      std::memcpy(out.data() + at + offsetof(struct dirent64, d_name), e.name.c_str(),
                  e.name.size() + 1);
      ++next_;
    }
    if (out.empty() && next_ < entries_.size()) return Errno(EINVAL);  // buffer too small
    TRY(mm.copy_out(buf, out.data(), out.size()));
    return out.size();
  }
  Result<struct stat> stat() override {
    struct stat st = {};
    st.st_mode = S_IFDIR | 0555;
    st.st_nlink = 2;
    st.st_blksize = 4096;
    return st;
  }

 private:
  std::vector<DirEntry> entries_;
  size_t next_ = 0;
};

}  // namespace

std::shared_ptr<File> make_text_file(std::string path, std::string contents, mode_t mode) {
  return std::make_shared<TextFile>(std::move(path), std::move(contents), mode);
}

std::shared_ptr<File> make_dir_file(std::string path, std::vector<DirEntry> entries) {
  return std::make_shared<DirFile>(std::move(path), std::move(entries));
}

}  // namespace kernel::fs
