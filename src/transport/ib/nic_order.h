// The order in which the ib transport tries verbs devices: the one the topology places nearest to
// this process's NUMA node first (Topology::nearestNicToNuma, RDMA devices only), the others after
// it in the driver's order. Every rank of a host therefore starts from its own socket's NIC, and a
// machine whose topology is unknown keeps the driver's order. BRAID_IB_HCA still filters the list.
#pragma once

#include <string>
#include <vector>

#include "topology/topology.h"

namespace braid {

std::vector<std::string> devicesNearestFirst(std::vector<std::string> devices,
                                             const Topology& topology);

}  // namespace braid
