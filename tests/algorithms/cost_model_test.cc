// Unit tests for the cost model (algorithms/cost_model.h): reading constants (file, overrides,
// mistakes named), the shape of each family's prediction, and the choices that follow from it.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "algorithms/algorithm.h"
#include "algorithms/cost_model.h"
#include "core/error.h"

namespace braid {
namespace {

const Algorithm& named(const char* name) {
  for (const Algorithm& a : algorithms()) {
    if (std::string(a.name) == name) return a;
  }
  ADD_FAILURE() << "no algorithm " << name;
  return algorithms()[0];
}

CostInputs inputs(OpKind kind, int nranks, size_t bytes, const LinkCost& link) {
  CostInputs in{};
  in.kind = kind;
  in.nranks = nranks;
  in.bytes = bytes;
  in.hosts = 1;
  in.flat = in.inside = in.across = link;
  in.chunkBytes = 512 << 10;
  in.reduceBytesPerUs = 10000;
  return in;
}

// The algorithm serving kind that the model predicts fastest (registry order breaks ties).
std::string choice(const CostInputs& in) {
  const Algorithm* best = nullptr;
  double bestUs = 0;
  for (const Algorithm& a : algorithms()) {
    if (!a.serves(in.kind)) continue;
    double us = a.cost(in);
    if (best == nullptr || predictedFaster(us, bestUs)) best = &a, bestUs = us;
  }
  return best->name;
}

std::string errorOf(const std::string& file, const std::string& overrides) {
  try {
    loadCostConstants(file, overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidInvalidArgument);
    return e.what();
  }
  return "";
}

TEST(CostModel, FileThenOverridesOnTopOfBuiltIns) {
  CostConstants builtIn = loadCostConstants("", "");
  EXPECT_EQ(builtIn.source, "built-in");
  std::string path = testing::TempDir() + "cost_model_test.txt";
  {
    std::ofstream f(path);
    f << "# measured\n shm.latency_us = 0.5\nshm.gbps=4  # GB/s\n\ntcp.latency_us=9\n";
  }
  CostConstants c = loadCostConstants(path, "tcp.latency_us=11, reduce.gbps=2");
  EXPECT_DOUBLE_EQ(c.shm.latencyUs, 0.5);
  EXPECT_DOUBLE_EQ(c.shm.bytesPerUs, 4000);
  EXPECT_DOUBLE_EQ(c.tcp.latencyUs, 11);  // the override beats the file
  EXPECT_DOUBLE_EQ(c.tcp.bytesPerUs, builtIn.tcp.bytesPerUs);
  EXPECT_DOUBLE_EQ(c.reduceBytesPerUs, 2000);
  EXPECT_EQ(c.source, path + " + BRAID_TUNING");
  // What formatCostConstants writes reads back the same.
  {
    std::ofstream f(path);
    f << formatCostConstants(c);
  }
  CostConstants again = loadCostConstants(path, "");
  EXPECT_NEAR(again.shm.latencyUs, c.shm.latencyUs, 1e-9);
  EXPECT_NEAR(again.shm.stagedCacheBytesPerUs, c.shm.stagedCacheBytesPerUs, 1e-6);
  EXPECT_NEAR(again.tcp.rampBytesPerUs, c.tcp.rampBytesPerUs, 1e-6);
  EXPECT_NEAR(again.tcp.latencyUs, c.tcp.latencyUs, 1e-9);
  EXPECT_NEAR(again.reduceBytesPerUs, c.reduceBytesPerUs, 1e-6);
  std::remove(path.c_str());
}

// A call whose buffers fit in cache gets the cache rates, one that streams from memory the memory
// rates, and one between a harmonic blend of both.
TEST(CostModel, RatesFollowWhereTheBuffersLive) {
  CostConstants c = loadCostConstants(
      "", "cache_kib=1024,shm.gbps=5,shm.cache_gbps=20,reduce.gbps=4,reduce.cache_gbps=40");
  const double cache = 1 << 20;
  EXPECT_DOUBLE_EQ(c.cacheBytes, cache);
  EXPECT_DOUBLE_EQ(cacheShare(c, 8), 1);
  EXPECT_DOUBLE_EQ(cacheShare(c, 256 << 10), 1);  // input and output fill half the cache
  EXPECT_DOUBLE_EQ(cacheShare(c, 512 << 10), 0.5);
  EXPECT_DOUBLE_EQ(cacheShare(c, 1 << 20), 0);  // twice the cache
  EXPECT_DOUBLE_EQ(cacheShare(c, 64 << 20), 0);
  EXPECT_DOUBLE_EQ(linkCost(c, "shm", 4096).bytesPerUs, 20000);
  EXPECT_DOUBLE_EQ(linkCost(c, "shm", 64 << 20).bytesPerUs, 5000);
  EXPECT_DOUBLE_EQ(linkCost(c, "shm", 512 << 10).bytesPerUs, 1 / (0.5 / 20000 + 0.5 / 5000));
  EXPECT_DOUBLE_EQ(linkCost(c, "shm", 8).latencyUs, c.shm.latencyUs);
  EXPECT_DOUBLE_EQ(reduceRate(c, 4096), 40000);
  EXPECT_DOUBLE_EQ(reduceRate(c, 64 << 20), 4000);
  // Smaller calls never predict slower rates than larger ones.
  for (size_t b = 8; b < (256u << 20); b *= 2)
    EXPECT_GE(linkCost(c, "shm", b).bytesPerUs, linkCost(c, "shm", 2 * b).bytesPerUs) << b;
}

// A message's first kRampBytes move at the ramp rate, the rest at the link's; an exchange (the
// ring's reduce-scatter half) moves at the staged rate, a plain copy (its allgather half) at the
// direct one.
TEST(CostModel, RampThenTheRateOfThePath) {
  LinkCost link{0.5, 10000, 2000, 1000};
  auto broadcast = [&](size_t bytes) {
    return named("chain").cost(inputs(OpKind::kBroadcast, 2, bytes, link));
  };
  EXPECT_DOUBLE_EQ(broadcast(2048), 0.5 + 2048 / 1000.0);
  EXPECT_DOUBLE_EQ(broadcast(65536), 0.5 + kRampBytes / 1000 + (65536 - kRampBytes) / 10000);
  CostInputs in = inputs(OpKind::kAllReduce, 2, 1 << 20, link);
  double half = (1 << 20) / 2.0;
  double scatter = 0.5 + kRampBytes / 1000 + (half - kRampBytes) / 2000;
  double gather = 0.5 + kRampBytes / 1000 + (half - kRampBytes) / 10000;
  EXPECT_DOUBLE_EQ(named("ring").cost(in), scatter + half / in.reduceBytesPerUs + gather);
  in.kind = OpKind::kAllGather;
  in.bytes = 1 << 20;
  EXPECT_DOUBLE_EQ(named("ring").cost(in), gather);
}

// More ranks than cores: each rank has a share of a core (rates / f) and waits for its peers'
// time slices (latency x f^2).
TEST(CostModel, OversubscribedRanksShareTheCores) {
  CostConstants c = loadCostConstants("", "");
  LinkCost alone = linkCost(c, "shm", 4096);
  LinkCost shared = linkCost(c, "shm", 4096, 2);
  EXPECT_DOUBLE_EQ(shared.latencyUs, 4 * alone.latencyUs);
  EXPECT_DOUBLE_EQ(shared.bytesPerUs, alone.bytesPerUs / 2);
  EXPECT_DOUBLE_EQ(shared.stagedBytesPerUs, alone.stagedBytesPerUs / 2);
  EXPECT_DOUBLE_EQ(shared.rampBytesPerUs, alone.rampBytesPerUs / 2);
  EXPECT_DOUBLE_EQ(reduceRate(c, 4096, 2), reduceRate(c, 4096) / 2);
}

TEST(CostModel, PredictionsWithinOnePercentAreTies) {
  EXPECT_TRUE(predictedFaster(98, 100));
  EXPECT_FALSE(predictedFaster(99.5, 100));
  EXPECT_FALSE(predictedFaster(100, 100));
}

TEST(CostModel, MistakesAreNamed) {
  EXPECT_NE(errorOf("", "shm.latency=1").find("'shm.latency=1' is not key=value"),
            std::string::npos);
  EXPECT_NE(errorOf("", "tcp.gbps=fast").find("needs a positive number"), std::string::npos);
  EXPECT_NE(errorOf("", "tcp.gbps=-1").find("needs a positive number"), std::string::npos);
  EXPECT_NE(errorOf("", "tcp.gbps").find("is not key=value"), std::string::npos);
  EXPECT_NE(errorOf("/nonexistent/tuning", "").find("cannot be read"), std::string::npos);
}

TEST(CostModel, PredictionsGrowWithSizeAndOneRankCostsNothing) {
  LinkCost shm{0.5, 5000, 5000, 5000};
  for (const Algorithm& a : algorithms()) {
    for (OpKind kind : {OpKind::kAllReduce, OpKind::kReduceScatter, OpKind::kAllGather,
                        OpKind::kBroadcast, OpKind::kReduce}) {
      if (!a.serves(kind) || std::string(a.name) == "hierarchical") continue;
      for (int n : {2, 3, 4, 7, 8}) {
        double last = 0;
        for (size_t bytes = 8; bytes <= (64u << 20); bytes *= 8) {
          double us = a.cost(inputs(kind, n, bytes, shm));
          EXPECT_GT(us, last) << a.name << " " << opKindName(kind) << " n=" << n << " " << bytes;
          last = us;
        }
      }
      EXPECT_EQ(a.cost(inputs(kind, 1, 1 << 20, shm)), 0) << a.name;
    }
  }
}

TEST(CostModel, LatencyBoundSmallBandwidthBoundLarge) {
  LinkCost tcp{8, 2500, 2500, 2500};
  // Small: recursive doubling's log2(n) exchanges beat the ring's 2(n-1) steps.
  EXPECT_EQ(choice(inputs(OpKind::kAllReduce, 8, 8, tcp)), "recdbl");
  EXPECT_EQ(choice(inputs(OpKind::kAllGather, 8, 64, tcp)), "bruck");
  EXPECT_EQ(choice(inputs(OpKind::kBroadcast, 8, 8, tcp)), "tree");
  // Large: whole-buffer exchanges lose to algorithms that move each byte about once.
  std::string large = choice(inputs(OpKind::kAllReduce, 8, 256u << 20, tcp));
  EXPECT_TRUE(large == "ring" || large == "rabenseifner") << large;
  EXPECT_EQ(choice(inputs(OpKind::kBroadcast, 8, 256u << 20, tcp)), "chain");
  // At 2 ranks the ring and recursive halving make the same transfers: the ring wins the tie.
  EXPECT_EQ(choice(inputs(OpKind::kAllReduce, 2, 64u << 20, tcp)), "ring");
}

TEST(CostModel, HierarchicalOnlyWhereThereAreHostsToSpan) {
  LinkCost shm{0.5, 5000, 5000, 5000};
  LinkCost net{20, 1000, 1000, 1000};
  CostInputs one = inputs(OpKind::kBroadcast, 8, 4096, shm);
  EXPECT_TRUE(std::isinf(named("hierarchical").cost(one)));
  CostInputs two = one;
  two.hosts = 2;
  two.across = two.flat = net;
  EXPECT_FALSE(std::isinf(named("hierarchical").cost(two)));
  // One network hop and two shared-memory hops beat three network-priced hops.
  EXPECT_LT(named("hierarchical").cost(two), named("tree").cost(two));
  // Allgather: one network step across the two hosts, where Bruck needs three and the ring seven.
  CostInputs gather = two;
  gather.kind = OpKind::kAllGather;
  EXPECT_LT(named("hierarchical").cost(gather), named("bruck").cost(gather));
  EXPECT_LT(named("bruck").cost(gather), named("ring").cost(gather));
  CostInputs spread = two;
  spread.hosts = 8;  // one rank per host: nothing to gather inside a host
  EXPECT_TRUE(std::isinf(named("hierarchical").cost(spread)));
}

}  // namespace
}  // namespace braid
