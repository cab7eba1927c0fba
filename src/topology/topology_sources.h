// The two readers of a machine behind discoverTopology(): hwloc (hwloc_topology.cc, which fails
// with braidInvalidUsage in a build without hwloc) and /sys (sysfs_topology.cc, the fallback).
// Both return the machine unplaced; the caller applies the process's binding.
#pragma once

#include <string>

#include "topology/topology.h"

namespace braid {

// xmlFile: "" reads this machine. dumpFile: "" writes nothing.
Topology readWithHwloc(const std::string& xmlFile, const std::string& dumpFile);
Topology readFromSysfs();

}  // namespace braid
