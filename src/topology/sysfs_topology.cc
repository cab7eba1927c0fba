// readFromSysfs: the topology a build without hwloc can see, from /sys alone. NUMA nodes and their
// CPUs come from /sys/devices/system/node; a PCI device's place from its canonical sysfs path
// (/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0: host bridge pci0000:00, one bridge above
// 0000:01:00.0) and its numa_node file. NICs are the netdevs and InfiniBand devices backed by a PCI
// device, GPUs the NVIDIA display/3D controllers (named by bus id: no CUDA numbering without the
// driver's help).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "topology/topology_sources.h"

namespace braid {

namespace fs = std::filesystem;

namespace {

std::string firstLine(const fs::path& file) {
  std::string line;
  std::ifstream in(file);
  std::getline(in, line);
  return line;
}

bool isBusId(const std::string& s) {
  return s.size() == 12 && s[4] == ':' && s[7] == ':' && s[10] == '.';
}

// The place of the PCI device nearest above `path` (a device's sysfs link); false if none. A
// device whose numa_node is -1 (the firmware does not say) is local to every node, as in hwloc.
bool placeOf(const fs::path& path, const std::vector<int>& allNuma, PciPlace* p) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return false;
  std::vector<std::string> chain;
  for (const fs::path& part : real) {
    std::string s = part.string();
    if (isBusId(s)) {
      chain.push_back(s);
    } else if (s.rfind("pci", 0) == 0 && chain.empty()) {
      p->hostBridge = s;
    }
  }
  if (chain.empty()) return false;
  p->busId = chain.back();
  p->bridges.assign(chain.rbegin() + 1, chain.rend());
  int node = std::atoi(firstLine("/sys/bus/pci/devices/" + p->busId + "/numa_node").c_str());
  p->numa = node >= 0 ? std::vector<int>{node} : allNuma;
  return true;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

void readNuma(Topology* t) {
  for (const std::string& name : entries("/sys/devices/system/node")) {
    if (name.rfind("node", 0) != 0 || name.size() == 4) continue;
    NumaNode node;
    node.id = std::atoi(name.c_str() + 4);
    parseCpuList(firstLine("/sys/devices/system/node/" + name + "/cpulist"), &node.cpus);
    t->numaNodes.push_back(node);
  }
  std::sort(t->numaNodes.begin(), t->numaNodes.end(),
            [](const NumaNode& a, const NumaNode& b) { return a.id < b.id; });
  for (const NumaNode& node : t->numaNodes) {  // each row lists the nodes in id order
    std::ifstream row("/sys/devices/system/node/node" + std::to_string(node.id) + "/distance");
    for (int d = 0; row >> d;)
      t->numaDistances.push_back(d);
  }
  if (t->numaDistances.size() != t->numaNodes.size() * t->numaNodes.size()) {
    t->numaDistances.clear();
  }
  if (t->numaNodes.empty()) {  // a kernel without NUMA support: one node holds every CPU
    NumaNode all;
    parseCpuList(firstLine("/sys/devices/system/cpu/online"), &all.cpus);
    t->numaNodes.push_back(all);
  }
}

std::vector<int> numaIds(const Topology& t) {
  std::vector<int> ids;
  for (const NumaNode& n : t.numaNodes)
    ids.push_back(n.id);
  return ids;
}

void readGpus(Topology* t) {
  for (const std::string& bus : entries("/sys/bus/pci/devices")) {
    fs::path dev = "/sys/bus/pci/devices/" + bus;
    std::string cls = firstLine(dev / "class");
    bool display = cls.rfind("0x0300", 0) == 0 || cls.rfind("0x0302", 0) == 0;
    Gpu g;
    if (!display || firstLine(dev / "vendor") != "0x10de" || !placeOf(dev, numaIds(*t), &g.place))
      continue;
    g.name = g.place.busId;
    t->gpus.push_back(std::move(g));
  }
}

void readNics(Topology* t) {
  std::map<std::string, Nic> byBus;
  for (const std::string& ib : entries("/sys/class/infiniband")) {
    PciPlace p;
    if (!placeOf("/sys/class/infiniband/" + ib + "/device", numaIds(*t), &p)) continue;
    Nic& nic = byBus[p.busId];
    if (nic.rdma) continue;
    nic.rdma = true;
    nic.name = ib;
    nic.place = p;
  }
  for (const std::string& net : entries("/sys/class/net")) {
    PciPlace p;
    if (!placeOf("/sys/class/net/" + net + "/device", numaIds(*t), &p)) continue;
    Nic& nic = byBus[p.busId];
    nic.netdevs.push_back(net);
    if (nic.name.empty()) nic.name = net;
    nic.place = p;
  }
  for (auto& [bus, nic] : byBus)
    t->nics.push_back(std::move(nic));
}

}  // namespace

Topology readFromSysfs() {
  Topology t;
  t.source = "/sys (built without hwloc)";
  readNuma(&t);
  readGpus(&t);
  readNics(&t);
  return t;
}

}  // namespace braid
