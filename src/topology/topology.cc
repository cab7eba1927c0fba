// Topology: PCI distance, NIC choice, the process's place and the one-line summary. Reading the
// machine is in hwloc_topology.cc and sysfs_topology.cc.
#include "topology/topology.h"

#include <sched.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <sstream>
#include <tuple>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "topology/topology_sources.h"

namespace braid {

namespace {

constexpr int kMaxCpus = 1 << 20;  // bounds what a malformed cpulist could make us allocate

bool sharesAny(const std::vector<int>& a, const std::vector<int>& b) {
  return std::any_of(a.begin(), a.end(),
                     [&](int x) { return std::find(b.begin(), b.end(), x) != b.end(); });
}

bool sharesBridge(const PciPlace& a, const PciPlace& b) {
  return std::any_of(a.bridges.begin(), a.bridges.end(), [&](const std::string& x) {
    return std::find(b.bridges.begin(), b.bridges.end(), x) != b.bridges.end();
  });
}

// The NIC with the lowest (distance, NUMA distance, not RDMA, bus id, name): the same on every
// rank of a host.
template <typename DistanceTo>
Topology::NicChoice nearest(const std::vector<Nic>& nics, bool rdmaOnly, DistanceTo distanceTo) {
  Topology::NicChoice best;
  int bestNuma = 0;
  auto key = [](const Nic& n, PciDistance d, int numa) {
    return std::make_tuple(d, numa, !n.rdma, std::cref(n.place.busId), std::cref(n.name));
  };
  for (const Nic& n : nics) {
    if (rdmaOnly && !n.rdma) continue;
    auto [d, numa] = distanceTo(n);
    if (best.nic == nullptr || key(n, d, numa) < key(*best.nic, best.distance, bestNuma)) {
      best = {&n, d};
      bestNuma = numa;
    }
  }
  return best;
}

template <typename T, typename Name>
std::string listNames(const std::vector<T>& items, Name name) {
  std::string s;
  for (const T& item : items) {
    if (!s.empty()) s += ", ";
    s += name(item);
  }
  return s;
}

}  // namespace

const char* pciDistanceName(PciDistance d) {
  switch (d) {
    case PciDistance::kSameSwitch:
      return "same PCI switch";
    case PciDistance::kSameHostBridge:
      return "same host bridge";
    case PciDistance::kSameNuma:
      return "same NUMA node";
    case PciDistance::kSystem:
      return "across NUMA nodes";
  }
  return "unknown";
}

PciDistance pciDistance(const PciPlace& a, const PciPlace& b) {
  if (sharesBridge(a, b)) return PciDistance::kSameSwitch;
  if (!a.hostBridge.empty() && a.hostBridge == b.hostBridge) return PciDistance::kSameHostBridge;
  if (sharesAny(a.numa, b.numa)) return PciDistance::kSameNuma;
  return PciDistance::kSystem;
}

Topology::NicChoice Topology::nearestNic(const Gpu& gpu, bool rdmaOnly) const {
  return nearest(nics, rdmaOnly, [&](const Nic& n) {
    return std::make_pair(pciDistance(gpu.place, n.place),
                          numaDistance(gpu.place.numa, n.place.numa));
  });
}

Topology::NicChoice Topology::nearestNicToNuma(int numa, bool rdmaOnly) const {
  return nearest(nics, rdmaOnly, [&](const Nic& n) {
    bool local = std::find(n.place.numa.begin(), n.place.numa.end(), numa) != n.place.numa.end();
    return std::make_pair(local ? PciDistance::kSameNuma : PciDistance::kSystem,
                          numaDistance({numa}, n.place.numa));
  });
}

int Topology::numaDistance(const std::vector<int>& a, const std::vector<int>& b) const {
  size_t n = numaNodes.size();
  if (numaDistances.size() != n * n) return 0;
  auto indexOf = [&](int id) {
    for (size_t i = 0; i < n; ++i) {
      if (numaNodes[i].id == id) return i;
    }
    return n;
  };
  int best = 0;
  for (int x : a) {
    for (int y : b) {
      size_t i = indexOf(x), j = indexOf(y);
      if (i == n || j == n) continue;
      int d = numaDistances[i * n + j];
      if (best == 0 || d < best) best = d;
    }
  }
  return best;
}

std::string Topology::summary() const {
  std::ostringstream s;
  s << "NUMA " << (homeNuma >= 0 ? std::to_string(homeNuma) : "?") << " of " << numaNodes.size()
    << " (CPUs " << formatCpuList(cpus) << "), " << gpus.size() << " GPU"
    << (gpus.size() == 1 ? "" : "s");
  if (!gpus.empty()) s << " (" << listNames(gpus, [](const Gpu& g) { return g.name; }) << ")";
  s << ", " << nics.size() << " NIC" << (nics.size() == 1 ? "" : "s");
  if (!nics.empty()) s << " (" << listNames(nics, [](const Nic& n) { return n.name; }) << ")";
  return s.str();
}

void Topology::placeProcess(const CpuBinding& binding) {
  std::vector<int> all;
  for (const NumaNode& node : numaNodes)
    all.insert(all.end(), node.cpus.begin(), node.cpus.end());
  cpus.clear();
  for (int c : binding.cpus) {
    if (std::find(all.begin(), all.end(), c) != all.end()) cpus.push_back(c);
  }
  if (cpus.empty()) {
    BRAID_INFO(kInit, "topology: no CPU of this process's binding (%s) is in %s; taking all of it",
               formatCpuList(binding.cpus).c_str(), source.c_str());
    cpus = all;
  }
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  processNuma.clear();
  homeNuma = -1;
  for (const NumaNode& node : numaNodes) {
    if (!sharesAny(node.cpus, cpus)) continue;
    processNuma.push_back(node.id);
    bool current =
        std::find(node.cpus.begin(), node.cpus.end(), binding.current) != node.cpus.end();
    if (current) homeNuma = node.id;
  }
  if (homeNuma < 0 && !processNuma.empty()) homeNuma = processNuma.front();
}

CpuBinding CpuBinding::ofThisProcess() {
  CpuBinding b;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    fail(braidSystemError, errnoText("sched_getaffinity", errno));
  }
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) b.cpus.push_back(c);
  }
  b.current = sched_getcpu();
  return b;
}

Topology discoverTopology() {
  std::string file = paramString("BRAID_TOPO_FILE");
  std::string dump = paramString("BRAID_TOPO_DUMP_FILE");
  Topology t;
  if (topologyHasHwloc()) {
    t = readWithHwloc(file, dump);
  } else {
    if (!file.empty() || !dump.empty()) {
      fail(braidInvalidUsage,
           "BRAID_TOPO_FILE and BRAID_TOPO_DUMP_FILE need hwloc, and this "
           "Braid was built without it");
    }
    t = readFromSysfs();
  }
  t.placeProcess(CpuBinding::ofThisProcess());
  return t;
}

const Topology& processTopology() {
  static const Topology topology = discoverTopology();
  return topology;
}

void logProcessTopology() {
  bool wanted = logEnabled(LogLevel::kInfo, kInit) || !paramString("BRAID_TOPO_FILE").empty() ||
                !paramString("BRAID_TOPO_DUMP_FILE").empty();
  if (!wanted) return;
  const Topology& t = processTopology();
  BRAID_INFO(kInit, "topology from %s: %s", t.source.c_str(), t.summary().c_str());
}

Topology loadTopologyXml(const std::string& path, const CpuBinding& binding) {
  Topology t = readWithHwloc(path, "");
  t.placeProcess(binding);
  return t;
}

std::string formatCpuList(const std::vector<int>& cpus) {
  std::string s;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1)
      ++j;
    if (!s.empty()) s += ',';
    s += std::to_string(cpus[i]);
    if (j > i) {
      s += '-';
      s += std::to_string(cpus[j]);
    }
    i = j + 1;
  }
  return s;
}

bool parseCpuList(const std::string& text, std::vector<int>* cpus) {
  auto number = [](std::string_view t, int* v) {
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *v);
    return ec == std::errc() && end == t.data() + t.size() && *v >= 0 && *v < kMaxCpus;
  };
  cpus->clear();
  std::string_view rest = text;
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back())))
    rest.remove_suffix(1);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view range = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t dash = range.find('-');
    int first = 0, last = 0;
    if (!number(range.substr(0, dash), &first)) return false;
    last = first;
    if (dash != std::string_view::npos && !number(range.substr(dash + 1), &last)) return false;
    if (last < first) return false;
    for (int c = first; c <= last; ++c)
      cpus->push_back(c);
  }
  return true;
}

}  // namespace braid
