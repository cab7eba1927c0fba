// The machine as placement sees it: NUMA nodes, the CPUs this process may run on, GPUs and NICs
// with their place on the PCI tree. hwloc discovers it (or reads it from BRAID_TOPO_FILE, an XML
// that hwloc wrote, so any server shape can be tested here); a build without hwloc reads what
// /sys and sched_getaffinity give. The rest of Braid sees only these plain structures, never
// hwloc, and chooses NICs from them: nearestNic() ranks candidates by PCI distance
// (same PCI switch < same host bridge < same NUMA node < across the system), then prefers an RDMA
// device, then the lower PCI bus id, so every rank of a host picks the same way. Between NUMA
// nodes, the NUMA distance table (where the firmware gives one) ranks the candidates first.
#pragma once

#include <string>
#include <vector>

namespace braid {

// Where a PCI device sits: the bridges above it and the NUMA node(s) it is attached to.
struct PciPlace {
  std::string busId;                 // "0000:05:00.0"
  std::string hostBridge;            // names the host bridge above it; "" when unknown
  std::vector<std::string> bridges;  // PCI-to-PCI bridges (switch ports) above it, nearest first
  std::vector<int> numa;             // NUMA nodes (OS indexes) local to it; empty when unknown
};

enum class PciDistance { kSameSwitch = 0, kSameHostBridge, kSameNuma, kSystem };
const char* pciDistanceName(PciDistance d);
PciDistance pciDistance(const PciPlace& a, const PciPlace& b);

struct Gpu {
  std::string name;  // "cuda0" where the XML or driver names it, else the PCI bus id
  PciPlace place;
};

struct Nic {
  std::string name;                  // RDMA device ("mlx5_0") if it has one, else the netdev
  std::vector<std::string> netdevs;  // its network interfaces ("eth2", "ib0")
  bool rdma = false;
  PciPlace place;
};

struct NumaNode {
  int id = 0;  // OS index
  std::vector<int> cpus;
};

// The CPUs this process may run on and the one it runs on now (-1: unknown). Tests set it by hand
// to place a "process" anywhere in an XML machine.
struct CpuBinding {
  std::vector<int> cpus;
  int current = -1;
  static CpuBinding ofThisProcess();
};

struct Topology {
  std::string source;  // "hwloc", "hwloc XML file ...", "/sys (built without hwloc)"
  std::vector<NumaNode> numaNodes;
  // Relative latency between NUMA nodes (10 = local), numaNodes.size() squared in their order;
  // empty when unknown.
  std::vector<int> numaDistances;
  std::vector<int> cpus;         // this process's CPU set, within the machine's
  std::vector<int> processNuma;  // the NUMA nodes those CPUs belong to
  int homeNuma = -1;             // of those, the one the process runs on now (else the first)
  std::vector<Gpu> gpus;
  std::vector<Nic> nics;

  // The NIC nearest to a GPU or to a NUMA node, and how near; nic is nullptr when there is none
  // (or, with rdmaOnly, none with an RDMA device).
  struct NicChoice {
    const Nic* nic = nullptr;
    PciDistance distance = PciDistance::kSystem;
  };
  NicChoice nearestNic(const Gpu& gpu, bool rdmaOnly = false) const;
  NicChoice nearestNicToNuma(int numa, bool rdmaOnly = false) const;
  // The smallest NUMA distance between a node of `a` and a node of `b` (0 when unknown).
  int numaDistance(const std::vector<int>& a, const std::vector<int>& b) const;
  // One line: "NUMA 0 of 2 (CPUs 0-1), 1 GPU (cuda0), 2 NICs (mlx4_0, eth0)".
  std::string summary() const;
  // Fills cpus, processNuma and homeNuma from a binding. CPUs the machine does not have are
  // dropped; a binding with none left (an XML of another machine) counts as the whole machine.
  void placeProcess(const CpuBinding& binding);
};

// BRAID_TOPO_FILE's XML if set, else this machine; writes the XML hwloc sees to
// BRAID_TOPO_DUMP_FILE when that is set. Placed with this process's binding.
Topology discoverTopology();
// The result of discoverTopology(), computed once per process.
const Topology& processTopology();
// Logs processTopology()'s summary at INFO (subsystem INIT), once per communicator. It is only
// read where that log is on or BRAID_TOPO_FILE/BRAID_TOPO_DUMP_FILE is set, so init pays nothing
// for it otherwise; a BRAID_TOPO_FILE that cannot be read fails the init.
void logProcessTopology();
// An hwloc XML file, with the given binding. braidInvalidUsage in a build without hwloc.
Topology loadTopologyXml(const std::string& path, const CpuBinding& binding);
bool topologyHasHwloc();

// "0-3,8,10-11" <-> {0,1,2,3,8,10,11}. parseCpuList returns false on malformed text.
std::string formatCpuList(const std::vector<int>& cpus);
bool parseCpuList(const std::string& text, std::vector<int>* cpus);

}  // namespace braid
