// The ib transport's decisions that need no device: which devices and ports BRAID_IB_HCA allows,
// which GID the table scan picks (made-up tables shaped like real ones), and that registrations
// are reused within an operation but never after it, so a buffer freed and reallocated at the same
// address is registered afresh.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "transport/ib/gid_select.h"
#include "transport/ib/hca_filter.h"
#include "transport/ib/nic_order.h"
#include "transport/ib/registration_cache.h"

namespace braid {
namespace {

// The device nearest this process's NUMA node is tried first (two-numa-switches.xml: mlx5_0 and
// mlx5_1 on NUMA 0, mlx5_2 on NUMA 1); the others keep the driver's order, as does a machine whose
// topology says nothing.
TEST(NicOrder, NearestToTheProcessNumaNodeFirst) {
  if (!topologyHasHwloc()) GTEST_SKIP() << "built without hwloc: topology XML cannot be loaded";
  const std::string xml = std::string(BRAID_TOPOLOGY_DATA) + "/two-numa-switches.xml";
  const std::vector<std::string> driver = {"mlx5_0", "mlx5_1", "mlx5_2"};
  EXPECT_EQ(devicesNearestFirst(driver, loadTopologyXml(xml, {{4}, 4})),
            (std::vector<std::string>{"mlx5_2", "mlx5_0", "mlx5_1"}));
  EXPECT_EQ(devicesNearestFirst(driver, loadTopologyXml(xml, {{0}, 0})), driver);
  EXPECT_EQ(devicesNearestFirst(driver, Topology{}), driver);
}

TEST(HcaFilter, EmptyAllowsEverything) {
  HcaFilter f = HcaFilter::parse("");
  EXPECT_TRUE(f.allows("mlx5_0", 1));
  EXPECT_TRUE(f.allows("rxe1", 2));
}

TEST(HcaFilter, PrefixesWithOptionalPorts) {
  HcaFilter f = HcaFilter::parse("mlx5_0:1,mlx5_1");
  EXPECT_TRUE(f.allows("mlx5_0", 1));
  EXPECT_FALSE(f.allows("mlx5_0", 2));
  EXPECT_TRUE(f.allows("mlx5_1", 1));
  EXPECT_TRUE(f.allows("mlx5_1", 2));
  EXPECT_TRUE(f.allows("mlx5_10", 1)) << "a name without = is a prefix";
  EXPECT_FALSE(f.allows("mlx5_2", 1));
  EXPECT_TRUE(HcaFilter::parse("mlx5").allows("mlx5_3", 1));
}

TEST(HcaFilter, CaretExcludes) {
  HcaFilter f = HcaFilter::parse("^rxe0");
  EXPECT_FALSE(f.allows("rxe0", 1));
  EXPECT_TRUE(f.allows("rxe1", 1));
  HcaFilter port = HcaFilter::parse("^mlx5_0:2");
  EXPECT_TRUE(port.allows("mlx5_0", 1));
  EXPECT_FALSE(port.allows("mlx5_0", 2));
}

TEST(HcaFilter, EqualsMatchesExactly) {
  HcaFilter f = HcaFilter::parse("=mlx5_1");
  EXPECT_TRUE(f.allows("mlx5_1", 1));
  EXPECT_FALSE(f.allows("mlx5_10", 1));
  EXPECT_FALSE(HcaFilter::parse("=rxe").allows("rxe0", 1));
  HcaFilter both = HcaFilter::parse("^=mlx5_1");
  EXPECT_FALSE(both.allows("mlx5_1", 1));
  EXPECT_TRUE(both.allows("mlx5_10", 1));
}

TEST(HcaFilter, RejectsBadPorts) {
  for (const char* bad : {"mlx5_0:", "mlx5_0:x", "mlx5_0:0", "mlx5_0:1:2", "a,b:-1"}) {
    EXPECT_THROW(HcaFilter::parse(bad), Error) << bad;
  }
}

GidEntry entry(int index, GidType type, std::vector<uint8_t> bytes) {
  GidEntry e{index, {}, type};
  for (size_t i = 0; i < bytes.size(); ++i)
    e.raw[i] = bytes[i];
  return e;
}

GidEntry ipv4Mapped(int index, GidType type, uint8_t last) {
  return entry(index, type, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 77, 0, last});
}

GidEntry linkLocal(int index, GidType type) {
  return entry(index, type, {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x02, 0x11, 0x22, 0xff, 0xfe, 1, 2, 3});
}

GidEntry globalV6(int index, GidType type) {
  return entry(index, type, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7});
}

TEST(GidScan, SoftRoceTablePicksTheIpv4MappedEntry) {
  // What rxe shows: fe80:: at 0, ::ffff:10.77.0.1 at 1, both RoCE v2.
  std::vector<GidEntry> table = {linkLocal(0, GidType::kRoceV2),
                                 ipv4Mapped(1, GidType::kRoceV2, 1)};
  EXPECT_EQ(chooseRoceGid(table), 1);
}

TEST(GidScan, MellanoxStyleTablePrefersRoceV2OverV1) {
  // mlx5 lists every address twice, RoCE v1 then v2.
  std::vector<GidEntry> table = {
      linkLocal(0, GidType::kRoceV1),     linkLocal(1, GidType::kRoceV2),
      ipv4Mapped(2, GidType::kRoceV1, 5), ipv4Mapped(3, GidType::kRoceV2, 5),
      globalV6(4, GidType::kRoceV1),      globalV6(5, GidType::kRoceV2),
  };
  EXPECT_EQ(chooseRoceGid(table), 3);
}

TEST(GidScan, FallsBackToGlobalIpv6ThenRoceV1) {
  EXPECT_EQ(chooseRoceGid({linkLocal(0, GidType::kRoceV2), globalV6(1, GidType::kRoceV2)}), 1);
  EXPECT_EQ(chooseRoceGid({linkLocal(0, GidType::kRoceV2), ipv4Mapped(4, GidType::kRoceV1, 9)}), 4);
}

TEST(GidScan, NothingUsableGivesMinusOne) {
  EXPECT_EQ(chooseRoceGid({}), -1);
  EXPECT_EQ(chooseRoceGid({linkLocal(0, GidType::kRoceV2), entry(1, GidType::kRoceV2, {})}), -1);
  EXPECT_EQ(chooseRoceGid({ipv4Mapped(0, GidType::kIb, 1)}), -1);
}

TEST(GidScan, TextOfAnIpv4MappedGid) {
  EXPECT_EQ(gidText(ipv4Mapped(1, GidType::kRoceV2, 2).raw), "::ffff:10.77.0.2");
}

// A registrar that records what it was asked; each registration gets a new key.
struct FakeRegistrar {
  std::vector<MemoryRegion> live;
  int registrations = 0;
  uint32_t nextKey = 100;

  RegistrationCache makeCache() {
    return RegistrationCache(
        [this](void* begin, size_t bytes) {
          ++registrations;
          MemoryRegion r;
          r.begin = reinterpret_cast<uintptr_t>(begin);
          r.bytes = bytes;
          r.lkey = nextKey++;
          live.push_back(r);
          return r;
        },
        [this](const MemoryRegion& r) {
          for (size_t i = 0; i < live.size(); ++i) {
            if (live[i].lkey == r.lkey) {
              live.erase(live.begin() + static_cast<long>(i));
              return;
            }
          }
          ADD_FAILURE() << "deregistered a region that was not registered";
        });
  }
};

TEST(RegistrationCache, ReusesARegionWithinAnOperation) {
  FakeRegistrar fake;
  RegistrationCache cache = fake.makeCache();
  std::vector<char> buffer(1 << 20);
  MemoryRegion whole = cache.cover(buffer.data(), buffer.size());
  MemoryRegion inside = cache.cover(buffer.data() + 4096, 8192);
  EXPECT_EQ(fake.registrations, 1);
  EXPECT_EQ(inside.lkey, whole.lkey);
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  EXPECT_EQ(whole.begin % page, 0u);
  EXPECT_LE(whole.begin, reinterpret_cast<uintptr_t>(buffer.data()));
  EXPECT_GE(whole.begin + whole.bytes, reinterpret_cast<uintptr_t>(buffer.data() + buffer.size()));
  // A span reaching past the region needs its own.
  cache.cover(buffer.data() + buffer.size() - 16, 16 + page);
  EXPECT_EQ(fake.registrations, 2);
}

TEST(RegistrationCache, FreedAndReallocatedAtTheSameAddressIsRegisteredAfresh) {
  FakeRegistrar fake;
  RegistrationCache cache = fake.makeCache();
  size_t bytes = 4 << 20;
  void* first = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(first, MAP_FAILED);
  uint32_t oldKey = cache.cover(first, bytes).lkey;
  cache.releaseAll();  // the operation that sent it ended
  EXPECT_TRUE(fake.live.empty()) << "a registration outlived its operation";
  // The caller frees the buffer and gets new pages at the same address (what glibc's free and
  // malloc of a large block do through munmap and mmap).
  ASSERT_EQ(munmap(first, bytes), 0);
  void* second =
      mmap(first, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(second, first);
  MemoryRegion again = cache.cover(second, bytes);
  EXPECT_EQ(fake.registrations, 2);
  EXPECT_NE(again.lkey, oldKey) << "the stale registration of the old pages was handed out";
  cache.releaseAll();
  munmap(second, bytes);
}

TEST(RegistrationCache, DestructionReleasesEverything) {
  FakeRegistrar fake;
  std::vector<char> a(100), b(100000);
  {
    RegistrationCache cache = fake.makeCache();
    cache.cover(a.data(), a.size());
    cache.cover(b.data(), b.size());
    EXPECT_EQ(cache.size(), fake.live.size());
  }
  EXPECT_TRUE(fake.live.empty());
}

}  // namespace
}  // namespace braid
