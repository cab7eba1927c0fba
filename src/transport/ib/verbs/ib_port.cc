// probeIb: walk the verbs devices BRAID_IB_HCA allows, nearest to this process's NUMA node first
// (nic_order.h), take the first active port with a usable address (a RoCE GID from the table scan,
// or the LID on InfiniBand), and say why when none is.
#include "transport/ib/verbs/ib_port.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "transport/ib/gid_select.h"
#include "transport/ib/hca_filter.h"
#include "transport/ib/nic_order.h"

namespace braid {

IbPort::IbPort(ibv_context* ctx, int port, const ibv_port_attr& attr, int gidIndex,
               const ibv_gid& gid, QpSettings qp)
    : ctx_(ctx),
      port_(port),
      roce_(attr.link_layer == IBV_LINK_LAYER_ETHERNET),
      gidIndex_(gidIndex),
      gid_(gid),
      lid_(attr.lid),
      mtu_(attr.active_mtu),
      qp_(qp) {
  pd_ = ibv_alloc_pd(ctx_);
  if (pd_ == nullptr) {
    int err = errno;
    ibv_close_device(ctx_);
    fail(braidSystemError, "ib: ", errnoText("ibv_alloc_pd", err), " on ", deviceName());
  }
}

IbPort::~IbPort() {
  ibv_dealloc_pd(pd_);
  ibv_close_device(ctx_);
}

std::string IbPort::describe() const {
  std::array<uint8_t, 16> raw{};
  std::memcpy(raw.data(), gid_.raw, raw.size());
  std::string s = deviceName() + " port " + std::to_string(port_) + ", ";
  if (roce_) {
    s += "RoCE GID index " + std::to_string(gidIndex_) + " (" + gidText(raw) + ")";
  } else {
    s += "InfiniBand LID " + std::to_string(lid_);
  }
  return s + ", MTU " + std::to_string(128 << mtu_);
}

namespace {

struct DeviceListDeleter {
  void operator()(ibv_device** list) const { ibv_free_device_list(list); }
};

GidType gidTypeOf(uint32_t type) {
  if (type == IBV_GID_TYPE_ROCE_V2) return GidType::kRoceV2;
  if (type == IBV_GID_TYPE_ROCE_V1) return GidType::kRoceV1;
  return GidType::kIb;
}

std::vector<GidEntry> readGidTable(ibv_context* ctx, int port, int length) {
  std::vector<GidEntry> table;
  for (int i = 0; i < length; ++i) {
    ibv_gid_entry e{};
    if (ibv_query_gid_ex(ctx, static_cast<uint32_t>(port), static_cast<uint32_t>(i), &e, 0) != 0) {
      continue;  // an empty slot (ENODATA)
    }
    GidEntry g{i, {}, gidTypeOf(e.gid_type)};
    std::memcpy(g.raw.data(), e.gid.raw, g.raw.size());
    table.push_back(g);
  }
  return table;
}

// The GID index for a port: BRAID_IB_GID_INDEX if set, else the scan's (RoCE) or 0 (InfiniBand).
int gidIndexFor(ibv_context* ctx, int port, const ibv_port_attr& attr, int64_t forced) {
  if (forced >= 0) return static_cast<int>(forced);
  if (attr.link_layer != IBV_LINK_LAYER_ETHERNET) return 0;
  return chooseRoceGid(readGidTable(ctx, port, attr.gid_tbl_len));
}

struct ContextCloser {
  void operator()(ibv_context* ctx) const { ibv_close_device(ctx); }
};

// The first usable port of one device, or null with the reasons appended to *why.
std::shared_ptr<IbPort> openDevicePort(ibv_device* dev, const HcaFilter& filter, int64_t forcedGid,
                                       IbPort::QpSettings qp, std::string* why) {
  std::string name = ibv_get_device_name(dev);
  std::unique_ptr<ibv_context, ContextCloser> ctx(ibv_open_device(dev));
  if (!ctx) {
    *why += "; " + name + ": " + errnoText("ibv_open_device", errno);
    return nullptr;
  }
  ibv_device_attr dattr{};
  if (ibv_query_device(ctx.get(), &dattr) != 0) {
    *why += "; " + name + ": " + errnoText("ibv_query_device", errno);
    return nullptr;
  }
  for (int port = 1; port <= dattr.phys_port_cnt; ++port) {
    std::string where = name + ":" + std::to_string(port);
    if (!filter.allows(name, port)) {
      *why += "; " + where + " left out by BRAID_IB_HCA";
      continue;
    }
    ibv_port_attr attr{};
    if (ibv_query_port(ctx.get(), static_cast<uint8_t>(port), &attr) != 0) {
      *why += "; " + where + ": " + errnoText("ibv_query_port", errno);
      continue;
    }
    if (attr.state != IBV_PORT_ACTIVE) {
      *why += "; " + where + " is " + ibv_port_state_str(attr.state);
      continue;
    }
    int gidIndex = gidIndexFor(ctx.get(), port, attr, forcedGid);
    ibv_gid gid{};
    if (gidIndex < 0 || ibv_query_gid(ctx.get(), static_cast<uint8_t>(port), gidIndex, &gid) != 0) {
      *why += "; " + where + " has no usable GID" +
              (forcedGid >= 0 ? " at BRAID_IB_GID_INDEX=" + std::to_string(forcedGid) : "");
      continue;
    }
    return std::make_shared<IbPort>(ctx.release(), port, attr, gidIndex, gid, qp);
  }
  return nullptr;
}

}  // namespace

IbProbe probeIb() {
  HcaFilter filter = HcaFilter::parse(paramString("BRAID_IB_HCA"));
  int64_t forcedGid = paramInt("BRAID_IB_GID_INDEX");
  int64_t timeout = paramInt("BRAID_IB_TIMEOUT");
  int64_t retry = paramInt("BRAID_IB_RETRY_CNT");
  if (timeout < 1 || timeout > 31) fail(braidInvalidArgument, "BRAID_IB_TIMEOUT must be in 1..31");
  if (retry < 0 || retry > 7) fail(braidInvalidArgument, "BRAID_IB_RETRY_CNT must be in 0..7");
  IbPort::QpSettings qp{static_cast<int>(timeout), static_cast<int>(retry)};
  int n = 0;
  std::unique_ptr<ibv_device*, DeviceListDeleter> list(ibv_get_device_list(&n));
  if (!list || n == 0) return IbProbe{nullptr, IbFabric::kNone, "no verbs devices on this host"};
  // Several devices: start from the one nearest this process's NUMA node (the driver's order
  // where the topology cannot be read).
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i)
    names.emplace_back(ibv_get_device_name(list.get()[i]));
  if (n > 1) {
    try {
      names = devicesNearestFirst(std::move(names), processTopology());
    } catch (const Error& e) {
      BRAID_INFO(kNet, "ib: devices tried in the driver's order (topology unavailable: %s)",
                 e.what());
    }
  }
  std::string why;
  for (const std::string& name : names) {
    ibv_device* device = nullptr;
    for (int i = 0; i < n && device == nullptr; ++i) {
      if (name == ibv_get_device_name(list.get()[i])) device = list.get()[i];
    }
    std::shared_ptr<IbPort> port = openDevicePort(device, filter, forcedGid, qp, &why);
    if (port) {
      IbFabric fabric = port->roce() ? IbFabric::kRoce : IbFabric::kInfiniBand;
      return IbProbe{port, fabric, port->describe()};
    }
  }
  return IbProbe{nullptr, IbFabric::kNone, "no usable verbs port (" + why.substr(2) + ")"};
}

}  // namespace braid
