// Topology: NUMA nodes, CPU sets, GPUs, NICs and the nearest-NIC choice, checked against machines
// described as hwloc XML (tests/topology/data: two written for these tests, three from hwloc's
// own test data), plus PCI distance and CPU-list unit tests that need no hwloc. The XML tests skip,
// saying why, in a build without hwloc.
#include "topology/topology.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <set>

#include "topology/topology_sources.h"

namespace braid {
namespace {

std::string dataFile(const char* name) {
  return std::string(BRAID_TOPO_TEST_DATA) + "/" + name;
}

#define SKIP_WITHOUT_HWLOC() \
  if (!topologyHasHwloc()) GTEST_SKIP() << "built without hwloc: topology XML cannot be loaded"

Topology load(const char* name, CpuBinding binding = {{0}, 0}) {
  return loadTopologyXml(dataFile(name), binding);
}

const Gpu& gpu(const Topology& t, const std::string& name) {
  auto it =
      std::find_if(t.gpus.begin(), t.gpus.end(), [&](const Gpu& g) { return g.name == name; });
  if (it == t.gpus.end()) throw std::runtime_error("no GPU " + name);
  return *it;
}

const Nic& nic(const Topology& t, const std::string& name) {
  auto it =
      std::find_if(t.nics.begin(), t.nics.end(), [&](const Nic& n) { return n.name == name; });
  if (it == t.nics.end()) throw std::runtime_error("no NIC " + name);
  return *it;
}

// "mlx5_0 (same PCI switch)", or "none".
std::string describe(const Topology::NicChoice& c) {
  if (c.nic == nullptr) return "none";
  return c.nic->name + " (" + pciDistanceName(c.distance) + ")";
}

std::vector<std::string> nicNames(const Topology& t) {
  std::vector<std::string> names;
  for (const Nic& n : t.nics)
    names.push_back(n.name);
  return names;
}

TEST(PciDistance, OrdersSwitchHostBridgeNumaSystem) {
  PciPlace gpu{"0000:03:00.0", "hb0", {"0000:02:08.0", "0000:01:00.0", "0000:00:01.0"}, {0}};
  PciPlace sameSwitch{"0000:04:00.0", "hb0", {"0000:02:10.0", "0000:01:00.0", "0000:00:01.0"}, {0}};
  PciPlace sameBridge{"0000:12:00.0", "hb0", {"0000:00:02.0"}, {0}};
  PciPlace sameNuma{"0000:41:00.0", "hb1", {"0000:40:01.0"}, {0}};
  PciPlace otherNuma{"0000:81:00.0", "hb2", {"0000:80:01.0"}, {1}};
  PciPlace unknown{"0000:90:00.0", "", {}, {}};
  EXPECT_EQ(pciDistance(gpu, sameSwitch), PciDistance::kSameSwitch);
  EXPECT_EQ(pciDistance(gpu, sameBridge), PciDistance::kSameHostBridge);
  EXPECT_EQ(pciDistance(gpu, sameNuma), PciDistance::kSameNuma);
  EXPECT_EQ(pciDistance(gpu, otherNuma), PciDistance::kSystem);
  EXPECT_EQ(pciDistance(unknown, unknown), PciDistance::kSystem);
  EXPECT_EQ(pciDistance(sameSwitch, gpu), PciDistance::kSameSwitch);
}

TEST(NearestNic, TiesGoToRdmaThenLowerBusId) {
  Topology t;
  t.nics.push_back({"eth0", {"eth0"}, false, {"0000:01:00.0", "hb0", {}, {0}}});
  t.nics.push_back({"mlx5_1", {}, true, {"0000:05:00.0", "hb0", {}, {0}}});
  t.nics.push_back({"mlx5_0", {}, true, {"0000:03:00.0", "hb0", {}, {0}}});
  t.nics.push_back({"mlx5_9", {}, true, {"0000:09:00.0", "hb9", {}, {1}}});
  EXPECT_EQ(describe(t.nearestNicToNuma(0)), "mlx5_0 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(1)), "mlx5_9 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(2)), "mlx5_0 (across NUMA nodes)");
  Topology none;
  EXPECT_EQ(describe(none.nearestNicToNuma(0)), "none");
}

TEST(CpuList, FormatsAndParsesRanges) {
  EXPECT_EQ(formatCpuList({0, 1, 2, 3, 8, 10, 11}), "0-3,8,10-11");
  EXPECT_EQ(formatCpuList({}), "");
  std::vector<int> cpus;
  ASSERT_TRUE(parseCpuList("0-3,8,10-11\n", &cpus));
  EXPECT_EQ(cpus, (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_FALSE(parseCpuList("3-1", &cpus));
  EXPECT_FALSE(parseCpuList("a", &cpus));
  EXPECT_FALSE(parseCpuList("1-2x", &cpus));
}

TEST(ThisMachine, ProcessCpusAreItsAffinityAndHomeIsOneOfItsNumaNodes) {
  Topology t = discoverTopology();
  ASSERT_FALSE(t.numaNodes.empty());
  EXPECT_EQ(t.cpus, CpuBinding::ofThisProcess().cpus);
  ASSERT_FALSE(t.processNuma.empty());
  EXPECT_NE(std::find(t.processNuma.begin(), t.processNuma.end(), t.homeNuma), t.processNuma.end());
  std::printf("this machine (%s): %s\n", t.source.c_str(), t.summary().c_str());
}

// The /sys reader (a build without hwloc) sees this machine as hwloc does. hwloc leaves out CPUs
// a container's cgroup disallows and /sys does not, so CPUs are compared within this process's.
TEST(ThisMachine, SysfsReaderAgreesWithHwloc) {
  SKIP_WITHOUT_HWLOC();
  Topology h = readWithHwloc("", "");
  Topology s = readFromSysfs();
  std::vector<int> mine = CpuBinding::ofThisProcess().cpus;
  auto within = [&](const std::vector<int>& cpus) {
    std::vector<int> out;
    std::set_intersection(cpus.begin(), cpus.end(), mine.begin(), mine.end(),
                          std::back_inserter(out));
    return out;
  };
  ASSERT_EQ(h.numaNodes.size(), s.numaNodes.size());
  for (size_t i = 0; i < h.numaNodes.size(); ++i) {
    EXPECT_EQ(h.numaNodes[i].id, s.numaNodes[i].id);
    EXPECT_EQ(within(h.numaNodes[i].cpus), within(s.numaNodes[i].cpus));
  }
  auto places = [](const auto& devices) {
    std::set<std::pair<std::string, std::vector<int>>> ids;
    for (const auto& d : devices)
      ids.insert({d.place.busId, d.place.numa});
    return ids;
  };
  if (h.numaNodes.size() > 1) {  // hwloc keeps no table for a single node
    EXPECT_EQ(h.numaDistances, s.numaDistances);
  }
  EXPECT_EQ(places(h.nics), places(s.nics));
  EXPECT_EQ(places(h.gpus), places(s.gpus));
}

TEST(HandWrittenXml, TwoNumaNodesWithPciSwitches) {
  SKIP_WITHOUT_HWLOC();
  Topology t = load("two-numa-switches.xml", {{5, 6}, 6});
  ASSERT_EQ(t.numaNodes.size(), 2u);
  EXPECT_EQ(t.numaNodes[0].cpus, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(t.numaNodes[1].cpus, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(t.cpus, (std::vector<int>{5, 6}));
  EXPECT_EQ(t.processNuma, (std::vector<int>{1}));
  EXPECT_EQ(t.homeNuma, 1);
  ASSERT_EQ(t.gpus.size(), 4u);
  EXPECT_EQ(gpu(t, "cuda0").place.busId, "0000:03:00.0");
  EXPECT_EQ(gpu(t, "cuda3").place.numa, (std::vector<int>{1}));
  EXPECT_EQ(nicNames(t), (std::vector<std::string>{"eth0", "mlx5_0", "mlx5_1", "eth1", "mlx5_2"}));
  EXPECT_EQ(nic(t, "mlx5_1").netdevs, (std::vector<std::string>{"ib1"}));
  EXPECT_TRUE(nic(t, "mlx5_1").rdma);
  EXPECT_FALSE(nic(t, "eth1").rdma);

  // Behind one switch each: the switch wins over the lower bus id of mlx5_0.
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda0"))), "mlx5_0 (same PCI switch)");
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda1"))), "mlx5_1 (same PCI switch)");
  // The host bridge wins over RDMA; asking for RDMA only finds mlx5_2 on the same NUMA node.
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda2"))), "eth1 (same host bridge)");
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda2"), true)), "mlx5_2 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda3"))), "mlx5_2 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(0)), "mlx5_0 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(1)), "mlx5_2 (same NUMA node)");
  EXPECT_EQ(t.summary(),
            "NUMA 1 of 2 (CPUs 5-6), 4 GPUs (cuda0, cuda1, cuda2, cuda3), 5 NICs (eth0, mlx5_0, "
            "mlx5_1, eth1, mlx5_2)");
}

TEST(HandWrittenXml, SubNumaClustersShareTheirPackagesIo) {
  SKIP_WITHOUT_HWLOC();
  Topology t = load("sub-numa-clusters.xml", {{1, 2, 4}, 4});
  ASSERT_EQ(t.numaNodes.size(), 3u);
  EXPECT_EQ(t.numaNodes[1].cpus, (std::vector<int>{2, 3}));
  EXPECT_EQ(t.processNuma, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(t.homeNuma, 2);
  EXPECT_EQ(nic(t, "mlx5_0").place.numa, (std::vector<int>{0, 1}));
  EXPECT_EQ(nic(t, "mlx5_0").netdevs, (std::vector<std::string>{"ens1"}));
  EXPECT_EQ(describe(t.nearestNicToNuma(1)), "mlx5_0 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(2)), "mlx5_0 (across NUMA nodes)");
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda0"))), "mlx5_0 (across NUMA nodes)");

  Topology unknownCurrent = load("sub-numa-clusters.xml", {{2, 3}, -1});
  EXPECT_EQ(unknownCurrent.homeNuma, 1);
  // A binding to CPUs this machine does not have counts as the whole machine.
  Topology foreign = load("sub-numa-clusters.xml", {{40, 41}, 40});
  EXPECT_EQ(foreign.cpus, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(foreign.homeNuma, 0);
}

TEST(HandWrittenXml, NumaDistancesRankNicsOnOtherNodes) {
  SKIP_WITHOUT_HWLOC();
  Topology t = load("four-numa-distances.xml");
  ASSERT_EQ(t.numaNodes.size(), 4u);
  EXPECT_EQ(t.numaDistances,
            (std::vector<int>{10, 12, 32, 32, 12, 10, 32, 32, 32, 32, 10, 12, 32, 32, 12, 10}));
  EXPECT_EQ(t.numaDistance({3}, {0, 2}), 12);
  // mlx5_0 has the lower bus id, but mlx5_1's NUMA node is nearer to cuda0's.
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda0"))), "mlx5_1 (across NUMA nodes)");
  EXPECT_EQ(describe(t.nearestNicToNuma(3)), "mlx5_1 (across NUMA nodes)");
  EXPECT_EQ(describe(t.nearestNicToNuma(1)), "mlx5_0 (across NUMA nodes)");
  // Without the table the lower bus id decides.
  t.numaDistances.clear();
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda0"))), "mlx5_0 (across NUMA nodes)");
}

TEST(HwlocXml, TwoSocketsWithInfinibandOnNumaZero) {
  SKIP_WITHOUT_HWLOC();
  Topology t = load("24em64t-2n6c2t-pci.xml", {{3, 12}, 3});
  ASSERT_EQ(t.numaNodes.size(), 2u);
  EXPECT_EQ(formatCpuList(t.numaNodes[0].cpus), "0,2,4,6,8,10,12,14,16,18,20,22");
  EXPECT_EQ(t.numaDistances, (std::vector<int>{10, 20, 20, 10}));
  EXPECT_EQ(t.processNuma, (std::vector<int>{0, 1}));
  EXPECT_EQ(t.homeNuma, 1);
  EXPECT_EQ(nicNames(t), (std::vector<std::string>{"eth0", "eth1", "mlx4_0"}));
  EXPECT_EQ(nic(t, "mlx4_0").netdevs, (std::vector<std::string>{"eth2", "ib0"}));
  EXPECT_EQ(nic(t, "mlx4_0").place.busId, "0000:05:00.0");
  // Two ports of one card share their root port.
  EXPECT_EQ(pciDistance(nic(t, "eth0").place, nic(t, "eth1").place), PciDistance::kSameSwitch);
  // NVIDIA 3D controllers without CUDA devices are GPUs named by bus id; the ATI VGA is not.
  ASSERT_EQ(t.gpus.size(), 3u);
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "0000:06:00.0"))), "mlx4_0 (same host bridge)");
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "0000:14:00.0"))), "mlx4_0 (across NUMA nodes)");
  EXPECT_EQ(describe(t.nearestNicToNuma(1)), "mlx4_0 (across NUMA nodes)");
}

TEST(HwlocXml, FourNumaNodesEachWithItsEthernetPair) {
  SKIP_WITHOUT_HWLOC();
  Topology t = load("96em64t-4n4d3ca2co-pci.xml");
  ASSERT_EQ(t.numaNodes.size(), 4u);
  EXPECT_EQ(formatCpuList(t.numaNodes[3].cpus), "72-95");
  EXPECT_TRUE(t.gpus.empty());
  EXPECT_EQ(describe(t.nearestNicToNuma(0)), "eth0 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(1)), "eth2 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(2)), "eth4 (same NUMA node)");
  EXPECT_EQ(describe(t.nearestNicToNuma(3)), "eth6 (same NUMA node)");
  EXPECT_EQ(nic(t, "eth5").place.busId, "0000:62:00.1");
}

TEST(HwlocXml, Power8CudaGpusWithoutNics) {
  SKIP_WITHOUT_HWLOC();
  Topology t = load("power8gpudistances.xml", {{80}, 80});
  EXPECT_EQ(t.homeNuma, 1);
  ASSERT_EQ(t.gpus.size(), 4u);
  EXPECT_EQ(gpu(t, "cuda2").place.busId, "000a:01:00.0");
  EXPECT_EQ(gpu(t, "cuda2").place.numa, (std::vector<int>{1}));
  EXPECT_EQ(pciDistance(gpu(t, "cuda0").place, gpu(t, "cuda1").place), PciDistance::kSameNuma);
  EXPECT_EQ(pciDistance(gpu(t, "cuda0").place, gpu(t, "cuda2").place), PciDistance::kSystem);
  EXPECT_TRUE(t.nics.empty());
  EXPECT_EQ(describe(t.nearestNic(gpu(t, "cuda0"))), "none");
}

// BRAID_TOPO_FILE replaces the machine; BRAID_TOPO_DUMP_FILE writes what was loaded, which loads
// back to the same devices.
TEST(Environment, TopoFileLoadsAndDumpFileWrites) {
  SKIP_WITHOUT_HWLOC();
  std::string dump = "/tmp/braid-topo-dump-" + std::to_string(getpid()) + ".xml";
  setenv("BRAID_TOPO_FILE", dataFile("two-numa-switches.xml").c_str(), 1);
  setenv("BRAID_TOPO_DUMP_FILE", dump.c_str(), 1);
  Topology t = discoverTopology();
  unsetenv("BRAID_TOPO_FILE");
  unsetenv("BRAID_TOPO_DUMP_FILE");
  EXPECT_EQ(t.source, "hwloc XML file " + dataFile("two-numa-switches.xml"));
  Topology again = loadTopologyXml(dump, {{0}, 0});
  std::remove(dump.c_str());
  EXPECT_EQ(nicNames(again), nicNames(t));
  EXPECT_EQ(describe(again.nearestNic(gpu(again, "cuda1"))), "mlx5_1 (same PCI switch)");
}

TEST(Environment, MissingTopoFileIsAnError) {
  SKIP_WITHOUT_HWLOC();
  EXPECT_THROW(loadTopologyXml(dataFile("no-such-machine.xml"), {{0}, 0}), std::exception);
}

}  // namespace
}  // namespace braid
