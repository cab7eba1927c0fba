// IbPort: one opened verbs device with its protection domain, the port Braid uses on it and the
// GID (RoCE) or LID (InfiniBand) its queue pairs are addressed by. One per communicator, shared by
// its ib connections (they hold it, so it outlives them). probeIb() in ib_port.cc finds it.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <string>

#include "transport/ib/ib_transport.h"

namespace braid {

class IbPort {
 public:
  // Queue pair settings that come from the environment (BRAID_IB_TIMEOUT, BRAID_IB_RETRY_CNT).
  struct QpSettings {
    int timeout;
    int retryCount;
  };
  // Takes ownership of ctx (closing it on failure too); allocates the protection domain.
  IbPort(ibv_context* ctx, int port, const ibv_port_attr& attr, int gidIndex, const ibv_gid& gid,
         QpSettings qp);
  ~IbPort();
  IbPort(const IbPort&) = delete;
  IbPort& operator=(const IbPort&) = delete;

  ibv_context* context() const { return ctx_; }
  ibv_pd* pd() const { return pd_; }
  std::string deviceName() const { return ibv_get_device_name(ctx_->device); }
  int port() const { return port_; }
  bool roce() const { return roce_; }
  int gidIndex() const { return gidIndex_; }
  const ibv_gid& gid() const { return gid_; }
  uint16_t lid() const { return lid_; }
  ibv_mtu activeMtu() const { return mtu_; }
  const QpSettings& qpSettings() const { return qp_; }
  std::string describe() const;

 private:
  ibv_context* ctx_;
  ibv_pd* pd_ = nullptr;
  int port_;
  bool roce_;
  int gidIndex_;
  ibv_gid gid_;
  uint16_t lid_;
  ibv_mtu mtu_;
  QpSettings qp_;
};

}  // namespace braid
