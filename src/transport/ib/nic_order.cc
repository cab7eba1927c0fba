#include "transport/ib/nic_order.h"

#include <algorithm>

namespace braid {

std::vector<std::string> devicesNearestFirst(std::vector<std::string> devices,
                                             const Topology& topology) {
  if (topology.homeNuma < 0) return devices;
  const Nic* nearest = topology.nearestNicToNuma(topology.homeNuma, true).nic;
  if (nearest == nullptr) return devices;
  std::stable_partition(devices.begin(), devices.end(),
                        [&](const std::string& d) { return d == nearest->name; });
  return devices;
}

}  // namespace braid
