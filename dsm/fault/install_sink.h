#pragma once
// What installing received pages costs a node, without any DSM around it:
// runs of pages copied into the holes of a memfd mapping registered with
// userfaultfd (UFFDIO_COPY, as FaultEngine installs a fetched run), and,
// once `ring_pages` are held, the oldest run punched out first (as the
// evictor keeps a budget). `pangaea bench fault` puts it behind the bare
// fabric's large replies to measure (d), the floor of a shmem-backed scan
// (dsm/region/fault_bench.h); dsm/fault/page_cost_bench.cc times it alone.
//
// Threads: one at a time.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/result.h"
#include "base/unique_fd.h"

namespace dsm {

class InstallSink {
 public:
  // A mapping of `ring_pages` pages, all holes.
  static base::StatusOr<std::unique_ptr<InstallSink>> Create(uint64_t ring_pages);
  ~InstallSink();
  InstallSink(const InstallSink&) = delete;
  InstallSink& operator=(const InstallSink&) = delete;

  // Installs `run` (whole pages, at most the ring) at the cursor; wraps to
  // the start when it would not fit, punching pages installed before.
  // After an error the sink's idea of which pages are present may be wrong:
  // make a new one.
  base::Status install(std::span<const std::byte> run);
  // Fills every hole (with zeros), so that each install from now on also
  // punches: a cache at its budget. The cursor stays where it was.
  base::Status fill();

  // The mapping (ring_pages pages); reading a hole blocks, nobody serves it.
  const std::byte* data() const { return base_; }
  uint64_t installed_pages() const { return installed_; }
  uint64_t punched_pages() const { return punched_; }

 private:
  InstallSink() = default;

  base::UniqueFd memfd_, uffd_;
  std::byte* base_ = nullptr;
  uint64_t pages_ = 0;
  uint64_t at_ = 0;    // next page to install
  uint64_t held_ = 0;  // pages [0, held_) have been installed
  uint64_t installed_ = 0, punched_ = 0;
};

}  // namespace dsm
