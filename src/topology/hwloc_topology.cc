// readWithHwloc: the machine (or an XML of one) through hwloc, turned into a Topology.
// GPUs are PCI display/3D controllers made by NVIDIA, or any PCI device with a CUDA co-processor
// below it. NICs are PCI devices with network or OpenFabrics OS devices below them; a device with
// both (an InfiniBand HCA and its ib0) is one NIC named for its RDMA device. Virtual interfaces
// (lo, veth, bridges) have no PCI device and are not NICs. Only I/O hwloc deems important is kept,
// so bridges without devices of interest below them disappear.
#include "topology/topology_sources.h"

#include "core/error.h"

#if BRAID_HAVE_HWLOC

#include <hwloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>

namespace braid {

namespace {

constexpr unsigned kVendorNvidia = 0x10de;
constexpr unsigned kClassVga = 0x0300;
constexpr unsigned kClass3d = 0x0302;

// hwloc components Braid keeps out of discovery. "pci" (libpciaccess) only adds vendor and device
// names, which Braid does not use, and leaks its name database (the sanitizer builds see it):
// hwloc's linux component reads the PCI tree from /sys by itself. "gl" asks X servers about
// displays and "opencl" loads an OpenCL runtime; neither finds anything Braid places by.
constexpr const char* kSkippedComponents[] = {"pci", "gl", "opencl"};

// Owns an hwloc topology.
class HwlocTopology {
 public:
  HwlocTopology() {
    if (hwloc_topology_init(&topo_) != 0) fail(braidSystemError, errnoText("hwloc init", errno));
    hwloc_topology_set_io_types_filter(topo_, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    for (const char* c : kSkippedComponents) {
      // EINVAL: this hwloc has no such component (its plugins are not installed), nothing to skip.
      if (hwloc_topology_set_components(topo_, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, c) != 0 &&
          errno != EINVAL) {
        hwloc_topology_destroy(topo_);
        fail(braidSystemError, errnoText("hwloc_topology_set_components", errno), " (", c, ")");
      }
    }
  }
  ~HwlocTopology() { hwloc_topology_destroy(topo_); }
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;

  void load(const std::string& xmlFile) {
    if (!xmlFile.empty() && hwloc_topology_set_xml(topo_, xmlFile.c_str()) != 0) {
      fail(braidInvalidUsage, "BRAID_TOPO_FILE=", xmlFile,
           ": hwloc cannot read it: ", errnoText("open", errno));
    }
    if (hwloc_topology_load(topo_) != 0) {
      fail(xmlFile.empty() ? braidSystemError : braidInvalidUsage,
           "hwloc could not load the topology", xmlFile.empty() ? "" : " from ", xmlFile, ": ",
           errnoText("load", errno));
    }
  }
  // Every rank of a host may dump at once: each writes its own file and renames it into place,
  // so the file is always one whole copy.
  void dump(const std::string& file) const {
    std::string mine = file + ".tmp." + std::to_string(getpid());
    if (hwloc_topology_export_xml(topo_, mine.c_str(), 0) != 0 ||
        std::rename(mine.c_str(), file.c_str()) != 0) {
      int err = errno;
      std::remove(mine.c_str());
      fail(braidSystemError, "BRAID_TOPO_DUMP_FILE=", file, ": ", errnoText("export", err));
    }
  }
  hwloc_topology_t get() const { return topo_; }

 private:
  hwloc_topology_t topo_ = nullptr;
};

std::vector<int> bitmapIndexes(hwloc_const_bitmap_t set) {
  std::vector<int> out;
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i))
    out.push_back(i);
  return out;
}

std::string busIdOf(const hwloc_obj_attr_u::hwloc_pcidev_attr_s& pci) {
  char text[32];
  snprintf(text, sizeof(text), "%04x:%02x:%02x.%x", static_cast<unsigned>(pci.domain), pci.bus,
           pci.dev, pci.func);
  return text;
}

std::string hostBridgeName(const hwloc_obj_attr_u::hwloc_bridge_attr_s& b) {
  char text[48];
  snprintf(text, sizeof(text), "%04x:[%02x-%02x]", static_cast<unsigned>(b.downstream.pci.domain),
           b.downstream.pci.secondary_bus, b.downstream.pci.subordinate_bus);
  return text;
}

PciPlace placeOf(hwloc_topology_t topo, hwloc_obj_t pcidev) {
  PciPlace p;
  p.busId = busIdOf(pcidev->attr->pcidev);
  for (hwloc_obj_t o = pcidev->parent; o != nullptr && o->type == HWLOC_OBJ_BRIDGE; o = o->parent) {
    if (o->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_PCI) {
      p.bridges.push_back(busIdOf(o->attr->bridge.upstream.pci));
    } else {
      p.hostBridge = hostBridgeName(o->attr->bridge);
    }
  }
  hwloc_obj_t local = hwloc_get_non_io_ancestor_obj(topo, pcidev);
  if (local != nullptr && local->nodeset != nullptr) p.numa = bitmapIndexes(local->nodeset);
  return p;
}

// The OS device of this type directly below a PCI device, or nullptr.
hwloc_obj_t osdevBelow(hwloc_obj_t pcidev, hwloc_obj_osdev_type_t type, const char* subtype) {
  for (hwloc_obj_t c = pcidev->io_first_child; c != nullptr; c = c->next_sibling) {
    if (c->type != HWLOC_OBJ_OS_DEVICE || c->attr->osdev.type != type) continue;
    if (subtype == nullptr || (c->subtype != nullptr && std::string(c->subtype) == subtype)) {
      return c;
    }
  }
  return nullptr;
}

void readNuma(hwloc_topology_t topo, Topology* t) {
  hwloc_obj_t node = nullptr;
  while ((node = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, node)) != nullptr) {
    t->numaNodes.push_back({static_cast<int>(node->os_index), bitmapIndexes(node->cpuset)});
  }
}

// The NUMA latency table, if hwloc has one (from the firmware, or the XML's distances).
void readNumaDistances(hwloc_topology_t topo, Topology* t) {
  unsigned count = 1;
  hwloc_distances_s* d = nullptr;
  if (hwloc_distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &count, &d,
                                  HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) != 0 ||
      count == 0) {
    return;
  }
  size_t n = t->numaNodes.size();
  std::vector<int> table(n * n, 0);
  auto indexOf = [&](hwloc_obj_t o) {
    for (size_t i = 0; i < n; ++i) {
      if (t->numaNodes[i].id == static_cast<int>(o->os_index)) return i;
    }
    return n;
  };
  size_t filled = 0;
  for (unsigned i = 0; i < d->nbobjs; ++i) {
    for (unsigned j = 0; j < d->nbobjs; ++j) {
      size_t a = indexOf(d->objs[i]), b = indexOf(d->objs[j]);
      if (a == n || b == n) continue;
      table[a * n + b] = static_cast<int>(d->values[i * d->nbobjs + j]);
      ++filled;
    }
  }
  hwloc_distances_release(topo, d);
  if (filled == n * n) t->numaDistances = std::move(table);
}

void readGpus(hwloc_topology_t topo, Topology* t) {
  hwloc_obj_t dev = nullptr;
  while ((dev = hwloc_get_next_pcidev(topo, dev)) != nullptr) {
    const hwloc_obj_attr_u::hwloc_pcidev_attr_s& pci = dev->attr->pcidev;
    bool display = pci.class_id == kClassVga || pci.class_id == kClass3d;
    hwloc_obj_t cuda = osdevBelow(dev, HWLOC_OBJ_OSDEV_COPROC, "CUDA");
    if (cuda == nullptr && !(display && pci.vendor_id == kVendorNvidia)) continue;
    Gpu g;
    g.place = placeOf(topo, dev);
    g.name = cuda != nullptr ? cuda->name : g.place.busId;
    t->gpus.push_back(std::move(g));
  }
}

void readNics(hwloc_topology_t topo, Topology* t) {
  std::map<hwloc_obj_t, Nic> byDevice;  // several OS devices may share one PCI device
  hwloc_obj_t os = nullptr;
  while ((os = hwloc_get_next_osdev(topo, os)) != nullptr) {
    bool net = os->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK;
    bool rdma = os->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS;
    hwloc_obj_t dev = os->parent;
    if (!(net || rdma) || dev == nullptr || dev->type != HWLOC_OBJ_PCI_DEVICE) continue;
    Nic& nic = byDevice[dev];
    if (net) nic.netdevs.push_back(os->name);
    if (rdma && !nic.rdma) {
      nic.rdma = true;
      nic.name = os->name;
    }
  }
  for (auto& [dev, nic] : byDevice) {
    if (nic.name.empty()) nic.name = nic.netdevs.front();
    nic.place = placeOf(topo, dev);
    t->nics.push_back(std::move(nic));
  }
  std::sort(t->nics.begin(), t->nics.end(),
            [](const Nic& a, const Nic& b) { return a.place.busId < b.place.busId; });
}

}  // namespace

Topology readWithHwloc(const std::string& xmlFile, const std::string& dumpFile) {
  HwlocTopology topo;
  topo.load(xmlFile);
  if (!dumpFile.empty()) topo.dump(dumpFile);
  Topology t;
  t.source = xmlFile.empty() ? "hwloc" : "hwloc XML file " + xmlFile;
  readNuma(topo.get(), &t);
  readNumaDistances(topo.get(), &t);
  readGpus(topo.get(), &t);
  readNics(topo.get(), &t);
  return t;
}

bool topologyHasHwloc() {
  return true;
}

}  // namespace braid

#else  // built without hwloc

namespace braid {

Topology readWithHwloc(const std::string&, const std::string&) {
  fail(braidInvalidUsage, "this Braid was built without hwloc, so it cannot read topology XML");
}

bool topologyHasHwloc() {
  return false;
}

}  // namespace braid

#endif
