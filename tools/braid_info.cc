// braid-info: what this Braid is and how it is set up here: version, build features, the
// topology (NUMA nodes, this process's CPUs, GPUs, NICs and the NIC nearest to each), the
// transport it would use for each kind of peer, the algorithms it has, and every BRAID_* parameter
// with its current value and doc. BRAID_TOPO_FILE shows another machine's placement.
// `braid-info --params-markdown` prints the README's parameter table (a test keeps them equal);
// `--tuning`, `--calibrate FILE` and `--calibrate-link FILE` show and measure the cost model
// (braid_info_tuning.h).
#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "algorithms/algorithm.h"
#include "braid_info_tuning.h"
#include "collectives/braid.h"
#include "core/comm.h"
#include "core/error.h"
#include "core/params.h"
#include "topology/topology.h"
#include "transport/ib/ib_transport.h"
#include "transport/socket.h"

namespace {

void printMarkdown() {
  printf("| variable | default | meaning |\n|---|---|---|\n");
  for (const braid::ParamSpec& p : braid::allParams()) {
    printf("| `%s` | %s | %s |\n", p.name, *p.defaultValue ? p.defaultValue : "(unset)", p.doc);
  }
}

const char* yesNo(bool b) {
  return b ? "yes" : "no";
}

bool cudaDriverLoads() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib != nullptr) dlclose(lib);
  return lib != nullptr;
}

void printFeatures() {
  printf("build features:\n");
  printf("  hwloc topology: %s\n", yesNo(braid::topologyHasHwloc()));
  printf("  transports: tcp, shm; verbs (InfiniBand/RoCE): %s; CUDA peer-to-peer: no\n",
         yesNo(BRAID_INFO_HAVE_IBVERBS));
  printf("  MPI bootstrap (libbraid_mpi): %s\n", yesNo(BRAID_INFO_HAVE_MPI));
  printf("  CUDA device buffers: %s (driver libcuda.so.1 loaded at run time)\n",
         yesNo(cudaDriverLoads()));
}

void printNic(const std::string& what, const braid::Topology::NicChoice& c) {
  if (c.nic == nullptr) {
    printf("  nearest NIC to %s: none\n", what.c_str());
  } else {
    printf("  nearest NIC to %s: %s (%s)\n", what.c_str(), c.nic->name.c_str(),
           braid::pciDistanceName(c.distance));
  }
}

std::string numaText(const std::vector<int>& numa) {
  return numa.empty() ? std::string("?") : braid::formatCpuList(numa);
}

void printTopology(const braid::Topology& t) {
  printf("topology from %s:\n  %s\n", t.source.c_str(), t.summary().c_str());
  size_t count = t.numaNodes.size();
  for (size_t i = 0; i < count; ++i) {
    std::string distances;
    for (size_t j = 0; j < count && t.numaDistances.size() == count * count; ++j) {
      distances += ' ';
      distances += std::to_string(t.numaDistances[i * count + j]);
    }
    printf("  NUMA node %d: CPUs %s%s%s\n", t.numaNodes[i].id,
           braid::formatCpuList(t.numaNodes[i].cpus).c_str(),
           distances.empty() ? "" : ", distances", distances.c_str());
  }
  printf("  this process: CPUs %s, NUMA node(s) %s\n", braid::formatCpuList(t.cpus).c_str(),
         numaText(t.processNuma).c_str());
  for (const braid::Gpu& g : t.gpus) {
    printf("  GPU %s: PCI %s, NUMA %s\n", g.name.c_str(), g.place.busId.c_str(),
           numaText(g.place.numa).c_str());
  }
  for (const braid::Nic& n : t.nics) {
    std::string netdevs;
    for (const std::string& d : n.netdevs) {
      netdevs += ' ';
      netdevs += d;
    }
    printf("  NIC %s: PCI %s, NUMA %s, %s%s%s\n", n.name.c_str(), n.place.busId.c_str(),
           numaText(n.place.numa).c_str(), n.rdma ? "RDMA" : "no RDMA",
           netdevs.empty() ? "" : ", netdevs", netdevs.c_str());
  }
  for (const braid::NumaNode& n : t.numaNodes) {
    printNic("NUMA node " + std::to_string(n.id), t.nearestNicToNuma(n.id));
  }
  for (const braid::Gpu& g : t.gpus)
    printNic(g.name, t.nearestNic(g));
}

// What Comm::chooseTransport would answer for each kind of peer under the current settings.
void printTransports(const std::string& ifname) {
  braid::CommSettings s = braid::CommSettings::fromEnvironment(nullptr);
  std::string tcp = "tcp over " + ifname + ", " + std::to_string(s.nstreams) + " streams";
  bool shm = !s.shmDisabled && s.transport != "tcp";
  printf("transport per peer:\n");
  printf("  same host: %s\n",
         shm ? "shm" : (tcp + " (shared memory disabled: BRAID_SHM_DISABLE/TRANSPORT)").c_str());
  // A peer on another host gets ib when both ends have a port on the same fabric: from here, when
  // this end has one (and ib is not turned off).
  std::string other = tcp;
  if (s.transport == "shm") {
    other = "error (BRAID_TRANSPORT=shm)";
  } else if (s.ibDisabled || s.transport == "tcp") {
    other += " (ib turned off: BRAID_IB_DISABLE/TRANSPORT)";
  } else {
    braid::IbProbe ib = braid::probeIb();
    other = ib.port ? "ib over " + ib.description + ", when the peer has a " +
                          braid::ibFabricName(ib.fabric) + " port too; else " + tcp
                    : tcp + " (no ib: " + ib.description + ")";
  }
  printf("  other host: %s\n", other.c_str());
}

int printSummary() {
  int status = 0;
  printf("Braid %d.%d.%d\n\n", BRAID_MAJOR, BRAID_MINOR, BRAID_PATCH);
  printFeatures();
  try {
    printTopology(braid::discoverTopology());
  } catch (const braid::Error& e) {
    printf("topology: unavailable: %s\n", e.what());
    status = 1;
  }
  std::string ifname = "?";
  try {
    braid::SockAddr a = braid::chooseLocalAddress(&ifname);
    a.port = 0;
    printf("network interface: %s (%s)\n", ifname.c_str(), a.str().c_str());
  } catch (const braid::Error& e) {
    printf("network interface: none usable: %s\n", e.what());
  }
  try {
    printTransports(ifname);
  } catch (const braid::Error& e) {
    printf("transport per peer: bad settings: %s\n", e.what());
    status = 1;
  }
  printf("\nalgorithms:\n");
  for (const braid::Algorithm& a : braid::algorithms()) {
    printf("  %-14s %s\n", a.name, a.description);
  }
  printf("\nparameters (current value, default, meaning):\n");
  for (const braid::ParamSpec& p : braid::allParams()) {
    std::string value = braid::paramString(p.name);
    printf("  %-22s = %-10s (default %s)\n      %s\n", p.name, value.empty() ? "''" : value.c_str(),
           *p.defaultValue ? p.defaultValue : "unset", p.doc);
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--params-markdown") == 0) {
    printMarkdown();
    return 0;
  }
  if (argc > 1 && std::strcmp(argv[1], "--tuning") == 0) return printTuning(argc - 2, argv + 2);
  if (argc == 3 && std::strcmp(argv[1], "--calibrate") == 0) return calibrate(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--calibrate-link") == 0) return calibrateLink(argv[2]);
  if (argc > 1) {
    fprintf(stderr,
            "usage: braid-info [--params-markdown | --tuning [options] | --calibrate FILE | "
            "--calibrate-link FILE]\n");
    return std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ? 0 : 2;
  }
  return printSummary();
}
