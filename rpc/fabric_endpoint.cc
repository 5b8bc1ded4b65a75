#include "rpc/fabric_endpoint.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <rdma/fi_errno.h>
#include <sys/socket.h>

#include <cstring>

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

base::StatusOr<std::unique_ptr<FabricEndpoint>> FabricEndpoint::Create(
    std::string_view provider, const std::vector<FabricAddress>& peers, int self) {
  if (self < 0 || self >= static_cast<int>(peers.size())) {
    return base::Error("fabric: no node " + std::to_string(self), EINVAL);
  }
  std::string prov = rdm_provider(provider);
  if (prov == "shm") {
    // shm names endpoints by string, not host:port; it needs an address
    // exchange this transport does not do yet.
    return base::Error("fabric: provider shm is not supported yet (use tcp)", ENOTSUP);
  }
  std::vector<sockaddr_in> sins;
  for (const auto& p : peers) sins.push_back(TRY(resolve(p)));

  std::unique_ptr<FabricEndpoint> e(new FabricEndpoint);
  fi_info* hints = fi_allocinfo();
  if (!hints) return base::Error("fi_allocinfo failed", ENOMEM);
  hints->ep_attr->type = FI_EP_RDM;
  hints->caps = FI_MSG;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;
  hints->addr_format = FI_SOCKADDR_IN;
  hints->domain_attr->threading = FI_THREAD_SAFE;
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
  hints->tx_attr->msg_order = FI_ORDER_SAS;
  hints->rx_attr->msg_order = FI_ORDER_SAS;
  hints->fabric_attr->prov_name = strdup(prov.c_str());
  hints->src_addr = std::malloc(sizeof(sockaddr_in));
  std::memcpy(hints->src_addr, &sins[static_cast<size_t>(self)], sizeof(sockaddr_in));
  hints->src_addrlen = sizeof(sockaddr_in);
  int ret = fi_getinfo(kFabricVersion, nullptr, nullptr, 0, hints, &e->info_);
  fi_freeinfo(hints);
  if (ret != 0) {
    return base::Error(fabric_error("fabric: no provider \"" + prov + "\" for " + peers[self].host +
                                        ":" + std::to_string(peers[self].port),
                                    ret),
                       ENODEV);
  }
  fi_info* info = e->info_;
  e->provider_name_ = info->fabric_attr->prov_name ? info->fabric_attr->prov_name : prov;
  e->needs_desc_ = (info->domain_attr->mr_mode & FI_MR_LOCAL) != 0;
  e->iov_limit_ = info->tx_attr->iov_limit;

  if ((ret = fi_fabric(info->fabric_attr, &e->fabric_, nullptr)) != 0)
    return base::Error(fabric_error("fi_fabric", ret));
  if ((ret = fi_domain(e->fabric_, info, &e->domain_, nullptr)) != 0)
    return base::Error(fabric_error("fi_domain", ret));

  fi_av_attr av_attr{};
  av_attr.type = FI_AV_TABLE;
  av_attr.count = peers.size();
  if ((ret = fi_av_open(e->domain_, &av_attr, &e->av_, nullptr)) != 0)
    return base::Error(fabric_error("fi_av_open", ret));

  fi_cq_attr cq_attr{};
  cq_attr.format = FI_CQ_FORMAT_MSG;
  cq_attr.size = 1024;
  cq_attr.wait_obj = FI_WAIT_UNSPEC;
  ret = fi_cq_open(e->domain_, &cq_attr, &e->cq_, nullptr);
  e->can_wait_ = ret == 0;
  if (ret != 0) {
    cq_attr.wait_obj = FI_WAIT_NONE;
    if ((ret = fi_cq_open(e->domain_, &cq_attr, &e->cq_, nullptr)) != 0)
      return base::Error(fabric_error("fi_cq_open", ret));
  }

  if ((ret = fi_endpoint(e->domain_, info, &e->ep_, nullptr)) != 0)
    return base::Error(
        fabric_error("fi_endpoint on " + peers[self].host + ":" + std::to_string(peers[self].port),
                     ret),
        EADDRINUSE);
  if ((ret = fi_ep_bind(e->ep_, &e->av_->fid, 0)) != 0)
    return base::Error(fabric_error("fi_ep_bind av", ret));
  if ((ret = fi_ep_bind(e->ep_, &e->cq_->fid, FI_TRANSMIT | FI_RECV)) != 0)
    return base::Error(fabric_error("fi_ep_bind cq", ret));
  if ((ret = fi_enable(e->ep_)) != 0)
    return base::Error(fabric_error("fi_enable (is " + peers[self].host + ":" +
                                        std::to_string(peers[self].port) + " in use?)",
                                    ret),
                       EADDRINUSE);

  e->addrs_.resize(peers.size(), FI_ADDR_NOTAVAIL);
  ret = fi_av_insert(e->av_, sins.data(), sins.size(), e->addrs_.data(), 0, nullptr);
  if (ret != static_cast<int>(sins.size()))
    return base::Error(fabric_error("fi_av_insert", ret < 0 ? ret : -FI_EINVAL));
  return e;
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

}  // namespace rpc
