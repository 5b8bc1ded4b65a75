#include "rpc/fabric_endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <rdma/fi_errno.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace rpc {

namespace {

constexpr uint32_t kFabricVersion = FI_VERSION(1, 17);

base::StatusOr<sockaddr_in> resolve(const FabricAddress& a) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(a.host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    return base::Error("cannot resolve " + a.host + ": " + gai_strerror(rc), EHOSTUNREACH);
  }
  sockaddr_in sin;
  std::memcpy(&sin, res->ai_addr, sizeof(sin));
  freeaddrinfo(res);
  sin.sin_port = htons(a.port);
  return sin;
}

}  // namespace

std::string fabric_error(std::string_view what, int ret) {
  return std::string(what) + ": " + fi_strerror(ret < 0 ? -ret : ret);
}

std::string rdm_provider(std::string_view provider) {
  if (provider == "tcp") return "tcp;ofi_rxm";
  if (provider == "verbs") return "verbs;ofi_rxm";
  return std::string(provider);
}

namespace {

fi_info* rdm_hints(const std::string& prov, uint32_t addr_format) {
  fi_info* hints = fi_allocinfo();
  if (!hints) return nullptr;
  hints->ep_attr->type = FI_EP_RDM;
  hints->caps = FI_MSG;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->addr_format = addr_format;
  hints->domain_attr->threading = FI_THREAD_SAFE;
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
  hints->tx_attr->msg_order = FI_ORDER_SAS;
  hints->rx_attr->msg_order = FI_ORDER_SAS;
  hints->fabric_attr->prov_name = strdup(prov.c_str());
  return hints;
}

// Why fi_getinfo found nothing: a provider missing from this machine
// altogether (verbs without RDMA hardware) says so, rather than blaming the
// address.
// libfabric 1.17's shm keeps every endpoint name this process ever opened in
// a list that outlives the endpoint; an endpoint opened later under a name
// closed before then finds the old, unmapped region (a crash in
// fi_av_insert or on the first send). So a name is used at most once per
// process, and a second use is refused here instead of crashing.
base::Status claim_shm_name(const std::string& name) {
  static std::mutex mu;
  static std::set<std::string>* used = new std::set<std::string>;  // never freed: outlives statics
  std::lock_guard lock(mu);
  if (!used->insert(name).second) {
    return base::Error("fabric: shm endpoint " + name +
                           " was already opened once in this process; libfabric 1.17's shm cannot "
                           "reuse a name in one process (docs/shm-provider.md)",
                       EADDRINUSE);
  }
  return base::ok_status();
}

base::Error no_provider(const std::string& prov, const std::string& where, int ret) {
  fi_info* hints = fi_allocinfo();
  fi_info* any = nullptr;
  std::string core = prov.substr(0, prov.find(';'));
  if (hints) {
    hints->fabric_attr->prov_name = strdup(core.c_str());
    (void)fi_getinfo(kFabricVersion, nullptr, nullptr, 0, hints, &any);
    fi_freeinfo(hints);
  }
  if (any == nullptr) {
    std::string why = core == "verbs" ? " (no RDMA device, or rdma-core/libibverbs missing)" : "";
    return base::Error("fabric: libfabric provider \"" + core +
                           "\" is not available on this machine" + why + "; use provider = \"tcp\"",
                       ENODEV);
  }
  fi_freeinfo(any);
  return base::Error(fabric_error("fabric: no provider \"" + prov + "\" for " + where, ret),
                     ENODEV);
}

}  // namespace

base::Status FabricEndpoint::open(fi_info* info, const std::string& where, bool poll_only) {
  provider_name_ = info->fabric_attr->prov_name ? info->fabric_attr->prov_name : "";
  needs_desc_ = (info->domain_attr->mr_mode & FI_MR_LOCAL) != 0;
  iov_limit_ = info->tx_attr->iov_limit;
  int ret;
  if ((ret = fi_fabric(info->fabric_attr, &fabric_, nullptr)) != 0)
    return base::Error(fabric_error("fi_fabric", ret));
  if ((ret = fi_domain(fabric_, info, &domain_, nullptr)) != 0)
    return base::Error(fabric_error("fi_domain", ret));

  fi_av_attr av_attr{};
  av_attr.type = FI_AV_TABLE;
  av_attr.count = addrs_.size();
  if ((ret = fi_av_open(domain_, &av_attr, &av_, nullptr)) != 0)
    return base::Error(fabric_error("fi_av_open", ret));

  fi_cq_attr cq_attr{};
  cq_attr.format = FI_CQ_FORMAT_MSG;
  cq_attr.size = 1024;
  cq_attr.wait_obj = poll_only ? FI_WAIT_NONE : FI_WAIT_UNSPEC;
  ret = fi_cq_open(domain_, &cq_attr, &cq_, nullptr);
  can_wait_ = ret == 0 && !poll_only;
  if (ret != 0 && !poll_only) {
    cq_attr.wait_obj = FI_WAIT_NONE;
    ret = fi_cq_open(domain_, &cq_attr, &cq_, nullptr);
  }
  if (ret != 0) return base::Error(fabric_error("fi_cq_open", ret));

  if ((ret = fi_endpoint(domain_, info, &ep_, nullptr)) != 0) {
    // libfabric's codes below 256 are errno values (EADDRINUSE,
    // EADDRNOTAVAIL: the address is not this host's, ...).
    const int code = -ret > 0 && -ret < 256 ? -ret : EADDRINUSE;
    return base::Error(fabric_error("fi_endpoint on " + where, ret), code);
  }
  return base::ok_status();
}

base::Status FabricEndpoint::enable(const std::string& where) {
  int ret;
  if ((ret = fi_ep_bind(ep_, &av_->fid, 0)) != 0)
    return base::Error(fabric_error("fi_ep_bind av", ret));
  if ((ret = fi_ep_bind(ep_, &cq_->fid, FI_TRANSMIT | FI_RECV)) != 0)
    return base::Error(fabric_error("fi_ep_bind cq", ret));
  if ((ret = fi_enable(ep_)) != 0)
    return base::Error(fabric_error("fi_enable (is " + where + " in use?)", ret), EADDRINUSE);
  return base::ok_status();
}

base::StatusOr<std::unique_ptr<FabricEndpoint>> FabricEndpoint::Create(
    std::string_view provider, const std::vector<FabricAddress>& peers, int self) {
  if (self < 0 || self >= static_cast<int>(peers.size())) {
    return base::Error("fabric: no node " + std::to_string(self), EINVAL);
  }
  std::string prov = rdm_provider(provider);
  if (prov == "shm") return CreateShm(peers, self);
  std::vector<sockaddr_in> sins;
  for (const auto& p : peers) sins.push_back(TRY(resolve(p)));
  const std::string where = peers[static_cast<size_t>(self)].host + ":" +
                            std::to_string(peers[static_cast<size_t>(self)].port);

  std::unique_ptr<FabricEndpoint> e(new FabricEndpoint);
  fi_info* hints = rdm_hints(prov, FI_SOCKADDR_IN);
  if (!hints) return base::Error("fi_allocinfo failed", ENOMEM);
  hints->src_addr = std::malloc(sizeof(sockaddr_in));
  std::memcpy(hints->src_addr, &sins[static_cast<size_t>(self)], sizeof(sockaddr_in));
  hints->src_addrlen = sizeof(sockaddr_in);
  int ret = fi_getinfo(kFabricVersion, nullptr, nullptr, 0, hints, &e->info_);
  fi_freeinfo(hints);
  if (ret != 0) return no_provider(prov, where, ret);
  e->addrs_ = std::vector<std::atomic<fi_addr_t>>(peers.size());
  TRY(e->open(e->info_, where, false));
  TRY(e->enable(where));
  std::vector<fi_addr_t> addrs(peers.size(), FI_ADDR_NOTAVAIL);
  ret = fi_av_insert(e->av_, sins.data(), sins.size(), addrs.data(), 0, nullptr);
  if (ret != static_cast<int>(sins.size()))
    return base::Error(fabric_error("fi_av_insert", ret < 0 ? ret : -FI_EINVAL));
  for (size_t i = 0; i < addrs.size(); ++i) e->addrs_[i].store(addrs[i]);
  return e;
}

base::StatusOr<std::unique_ptr<FabricEndpoint>> FabricEndpoint::CreateShm(
    const std::vector<FabricAddress>& peers, int self) {
  std::vector<std::string> names;
  for (const auto& p : peers) names.push_back(TRY(shm_name(p)));
  const std::string& where = names[static_cast<size_t>(self)];
  TRY(claim_shm_name(where));

  std::unique_ptr<FabricEndpoint> e(new FabricEndpoint);
  fi_info* hints = rdm_hints("shm", FI_ADDR_STR);
  if (!hints) return base::Error("fi_allocinfo failed", ENOMEM);
  int ret = fi_getinfo(kFabricVersion, nullptr, nullptr, 0, hints, &e->info_);
  fi_freeinfo(hints);
  if (ret != 0) return no_provider("shm", where, ret);
  e->addrs_ = std::vector<std::atomic<fi_addr_t>>(peers.size());
  for (auto& a : e->addrs_) a.store(FI_ADDR_NOTAVAIL);
  // shm never wakes a CQ wait object when a peer writes: poll (wait_cq).
  TRY(e->open(e->info_, where, true));
  // The exact name: given as src_addr, shm would append ":uid:index".
  ret = fi_setname(&e->ep_->fid, const_cast<char*>(where.c_str()), where.size() + 1);
  if (ret != 0) return base::Error(fabric_error("fi_setname " + where, ret), EADDRINUSE);
  TRY(e->remove_stale_segment(where));
  TRY(e->enable(where));
  TRY(e->lock_segment(where));
  // Peers go into the AV only once their segment exists (fi_addr,
  // refresh_peer): 1.17 maps a peer's segment when it is inserted, and a
  // peer inserted before it existed and then heard from crashes the
  // receiving side (a null region in the progress code).
  e->shm_names_ = std::move(names);
  {
    std::lock_guard lock(e->av_mu_);
    e->shm_inodes_.assign(peers.size(), 0);
    e->shm_looked_.assign(peers.size(), {});
  }
  e->self_ = self;
  if (e->map_peer(self, false) == FI_ADDR_NOTAVAIL)
    return base::Error("fabric: shm endpoint " + where + " did not appear in /dev/shm", EIO);
  for (int i = 0; i < static_cast<int>(peers.size()); ++i) (void)e->map_peer(i, false);
  return e;
}

// Each live shm endpoint holds an flock on its own segment; the kernel drops
// it when the process dies. A segment nobody holds is a dead process's
// (libfabric unlinks segments only on a clean close) and is removed, so a
// node killed with SIGKILL can start again under its name.
base::Status FabricEndpoint::remove_stale_segment(const std::string& name) {
  std::string path = "/dev/shm/" + name;
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return base::ok_status();
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return base::Error("fabric: shm endpoint " + name + " is in use by another process",
                       EADDRINUSE);
  }
  SPDLOG_INFO("fabric: removing {}, left by a process that died", path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return base::Error::from_errno("fabric: cannot remove stale " + path);
  return base::ok_status();
}

base::Status FabricEndpoint::lock_segment(const std::string& name) {
  std::string path = "/dev/shm/" + name;
  segment_lock_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!segment_lock_.valid() || ::flock(segment_lock_.get(), LOCK_EX | LOCK_NB) != 0)
    return base::Error::from_errno("fabric: cannot lock " + path);
  return base::ok_status();
}

bool FabricEndpoint::segment_owned(const std::string& path) {
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  return fd.valid() && ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

fi_addr_t FabricEndpoint::map_peer(int peer, bool drop_dead) {
  auto i = static_cast<size_t>(peer);
  if (shm_names_.empty()) return addrs_[i].load(std::memory_order_acquire);
  std::lock_guard lock(av_mu_);
  fi_addr_t old = addrs_[i].load(std::memory_order_relaxed);
  // Sends retry every millisecond while a peer is absent; look at most
  // every 10 ms (the progress thread's refresh always looks).
  auto now = std::chrono::steady_clock::now();
  if (!drop_dead && old == FI_ADDR_NOTAVAIL && now - shm_looked_[i] < std::chrono::milliseconds(10))
    return old;
  shm_looked_[i] = now;
  std::string path = "/dev/shm/" + shm_names_[i];
  struct stat st;
  bool present = ::stat(path.c_str(), &st) == 0 && st.st_size > 0;
  // Only a segment whose owner holds its flock (taken after fi_enable) is
  // live and ready: 1.17 keeps a half-made segment (no pid yet) in the AV
  // with no region, and the owner's first message then crashes this
  // process. A segment nobody holds is being made, or a dead process's.
  bool live = present && (i == static_cast<size_t>(self_) || segment_owned(path));
  if (old != FI_ADDR_NOTAVAIL) {
    if (!drop_dead || (live && st.st_ino == shm_inodes_[i])) return old;
    // The peer died (or was replaced): forget its mapping now, before a new
    // incarnation connects. 1.17 handles a known name with a new pid by
    // unmapping the old region and then using the unmapped pointer (a
    // crash); a name it does not know is mapped afresh.
    addrs_[i].store(FI_ADDR_NOTAVAIL, std::memory_order_release);
    shm_inodes_[i] = 0;
    (void)fi_av_remove(av_, &old, 1, 0);
  }
  if (!live) return FI_ADDR_NOTAVAIL;
  fi_addr_t a = FI_ADDR_NOTAVAIL;
  int ret = fi_av_insert(av_, shm_names_[i].c_str(), 1, &a, 0, nullptr);
  if (ret != 1 || a == FI_ADDR_NOTAVAIL) return FI_ADDR_NOTAVAIL;
  shm_inodes_[i] = st.st_ino;
  addrs_[i].store(a, std::memory_order_release);
  return a;
}

base::StatusOr<std::string> shm_name(const FabricAddress& a) {
  if (a.host.empty() || a.host.find_first_of("/: \t") != std::string::npos) {
    return base::Error("fabric: \"" + a.host + "\" cannot be part of an shm name", EINVAL);
  }
  return "pangaea-" + a.host + "-" + std::to_string(a.port);
}

FabricEndpoint::~FabricEndpoint() {
  if (ep_) fi_close(&ep_->fid);
  for (fid_mr* mr : mrs_) fi_close(&mr->fid);
  if (cq_) fi_close(&cq_->fid);
  if (av_) fi_close(&av_->fid);
  if (domain_) fi_close(&domain_->fid);
  if (fabric_) fi_close(&fabric_->fid);
  if (info_) fi_freeinfo(info_);
}

base::StatusOr<fid_mr*> FabricEndpoint::register_memory(void* base, size_t len) {
  fid_mr* mr = nullptr;
  int ret = fi_mr_reg(domain_, base, len,
                      FI_SEND | FI_RECV | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE, 0,
                      mrs_.size() + 1, 0, &mr, nullptr);
  if (ret != 0) return base::Error(fabric_error("fi_mr_reg", ret));
  mrs_.push_back(mr);
  return mr;
}

ssize_t FabricEndpoint::read_cq(fi_cq_msg_entry* entries, size_t count, int timeout_ms) {
  if (can_wait_ && timeout_ms > 0) return fi_cq_sread(cq_, entries, count, nullptr, timeout_ms);
  return fi_cq_read(cq_, entries, count);
}

ssize_t FabricEndpoint::wait_cq(fi_cq_msg_entry* entries, size_t count, int timeout_ms) {
  if (can_wait_) return read_cq(entries, count, timeout_ms);
  ssize_t n = fi_cq_read(cq_, entries, count);
  if (n != -FI_EAGAIN || timeout_ms <= 0) {
    if (n > 0) poll_sleep_ = kPollMin;
    return n;
  }
  auto sleep =
      std::min<std::chrono::microseconds>(poll_sleep_, std::chrono::milliseconds(timeout_ms));
  bool woken;
  {
    std::unique_lock lock(wake_mu_);
    woken = wake_cv_.wait_for(lock, sleep, [this] { return woken_; });
    woken_ = false;
  }
  poll_sleep_ = woken ? kPollMin : std::min(poll_sleep_ * 2, kPollMax);
  n = fi_cq_read(cq_, entries, count);
  if (n > 0) poll_sleep_ = kPollMin;
  return n;
}

void FabricEndpoint::signal() {
  if (can_wait_) {
    fi_cq_signal(cq_);
    return;
  }
  {
    std::lock_guard lock(wake_mu_);
    woken_ = true;
  }
  wake_cv_.notify_one();
}

}  // namespace rpc
