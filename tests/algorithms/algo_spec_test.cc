// Unit tests for BRAID_ALGO (algorithms/algo_spec.h): the three rule forms, size ranges and their
// bounds, which rule wins, and a braidInvalidArgument naming the culprit for each kind of mistake.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "algorithms/algo_spec.h"
#include "collectives/braid.h"
#include "core/error.h"

namespace braid {
namespace {

// The forced algorithm's name, or "" when the rules leave the call to the default choice.
std::string forced(const char* spec, OpKind kind, size_t bytes) {
  const Algorithm* a = forcedAlgorithm(parseAlgoSpec(spec), kind, bytes);
  return a == nullptr ? "" : a->name;
}

TEST(AlgoSpec, BareNameForcesEveryCollectiveItServes) {
  EXPECT_EQ(forced("ring", OpKind::kAllReduce, 8), "ring");
  EXPECT_EQ(forced("ring", OpKind::kAllGather, size_t{1} << 40), "ring");
  EXPECT_EQ(forced("ring", OpKind::kBroadcast, 8), "");
  EXPECT_EQ(forced("tree;bruck", OpKind::kReduce, 8), "tree");
  EXPECT_EQ(forced("tree;bruck", OpKind::kAllGather, 8), "bruck");
  EXPECT_EQ(forced("", OpKind::kAllReduce, 8), "");
  EXPECT_EQ(forced(";;ring;", OpKind::kAllReduce, 8), "ring");
}

TEST(AlgoSpec, CollectiveEqualsNameForcesThatCollectiveOnly) {
  EXPECT_EQ(forced("allreduce=ring", OpKind::kAllReduce, 8), "ring");
  EXPECT_EQ(forced("allreduce=ring", OpKind::kAllGather, 8), "");
  EXPECT_EQ(forced("reducescatter=rabenseifner", OpKind::kReduceScatter, 100), "rabenseifner");
  EXPECT_EQ(forced("broadcast=chain;reduce=tree", OpKind::kBroadcast, 8), "chain");
  EXPECT_EQ(forced("broadcast=chain;reduce=tree", OpKind::kReduce, 8), "tree");
}

TEST(AlgoSpec, SizeRangesAreHalfOpenWithSuffixesAndInf) {
  const char* spec = "allreduce:0-64K=recdbl,64K-inf=ring;broadcast=tree";
  EXPECT_EQ(forced(spec, OpKind::kAllReduce, 0), "recdbl");
  EXPECT_EQ(forced(spec, OpKind::kAllReduce, 65535), "recdbl");
  EXPECT_EQ(forced(spec, OpKind::kAllReduce, 65536), "ring");
  EXPECT_EQ(forced(spec, OpKind::kAllReduce, SIZE_MAX - 1), "ring");
  EXPECT_EQ(forced(spec, OpKind::kBroadcast, 1 << 30), "tree");
  EXPECT_EQ(forced(spec, OpKind::kReduce, 8), "");
  // Sizes outside every range fall to the default choice.
  const char* gaps = "allreduce:1K-1M=rabenseifner,2M-1G=ring";
  EXPECT_EQ(forced(gaps, OpKind::kAllReduce, 1023), "");
  EXPECT_EQ(forced(gaps, OpKind::kAllReduce, 1024), "rabenseifner");
  EXPECT_EQ(forced(gaps, OpKind::kAllReduce, 1 << 20), "");
  EXPECT_EQ(forced(gaps, OpKind::kAllReduce, (1 << 20) * 3), "ring");
  EXPECT_EQ(forced(gaps, OpKind::kAllReduce, size_t{1} << 30), "");
  EXPECT_EQ(forced("allgather:0-100=bruck", OpKind::kAllGather, 99), "bruck");
}

TEST(AlgoSpec, LaterRulesWin) {
  EXPECT_EQ(forced("ring;allreduce=recdbl", OpKind::kAllReduce, 8), "recdbl");
  EXPECT_EQ(forced("allreduce=recdbl;ring", OpKind::kAllReduce, 8), "ring");
  EXPECT_EQ(forced("ring;allreduce:0-1K=recdbl", OpKind::kAllReduce, 8), "recdbl");
  EXPECT_EQ(forced("ring;allreduce:0-1K=recdbl", OpKind::kAllReduce, 4096), "ring");
}

// Parsing fails with braidInvalidArgument and a message holding every fragment in `mentions`.
void expectRejected(const char* spec, std::initializer_list<const char*> mentions) {
  try {
    parseAlgoSpec(spec);
    ADD_FAILURE() << "accepted '" << spec << "'";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidInvalidArgument) << spec;
    std::string what = e.what();
    EXPECT_NE(what.find("BRAID_ALGO"), std::string::npos) << what;
    for (const char* m : mentions)
      EXPECT_NE(what.find(m), std::string::npos) << spec << ": '" << m << "' not in: " << what;
  }
}

TEST(AlgoSpec, RejectsUnknownNamesAndMismatches) {
  expectRejected("nope", {"unknown algorithm 'nope'", "ring"});
  expectRejected("ring;allreduce=nope", {"unknown algorithm 'nope'"});
  expectRejected("allreduc=ring", {"unknown collective 'allreduc'"});
  expectRejected("gather:0-1K=ring", {"unknown collective 'gather'"});
  expectRejected("broadcast=ring", {"'ring' does not serve broadcast"});
  expectRejected("allreduce:0-1K=tree", {"'tree' does not serve allreduce"});
  expectRejected("allreduce=", {"unknown algorithm ''"});
}

TEST(AlgoSpec, RejectsBadRanges) {
  expectRejected("allreduce:64K-0=ring", {"'64K-0' is empty"});
  expectRejected("allreduce:1K-1K=ring", {"'1K-1K' is empty"});
  expectRejected("allreduce:a-1K=ring", {"bad size 'a'"});
  expectRejected("allreduce:0-1.5M=ring", {"bad size '1.5M'"});
  expectRejected("allreduce:-5-1K=ring", {"bad size ''"});
  expectRejected("allreduce:0-infinity=ring", {"bad size 'infinity'"});
  expectRejected("allreduce:0-1K", {"'0-1K'", "lo-hi=algorithm"});
  expectRejected("allreduce:", {"lo-hi=algorithm"});
  expectRejected("allreduce:ring", {"'ring'", "lo-hi=algorithm"});
  expectRejected("allreduce:0-1K=ring,", {"lo-hi=algorithm"});
  expectRejected("allreduce:0-1K=recdbl,512-2K=ring", {"'512-2K' overlaps"});
}

// Through the C API: the call fails before anything is sent, and braidGetLastError says why.
TEST(AlgoSpec, BadSpecFailsTheCallWithItsReason) {
  setenv("BRAID_ALGO", "allreduce:0-1K=tree", 1);
  braidComm_t comm = nullptr;
  ASSERT_EQ(braidCommInitAll(&comm, 1, nullptr), braidSuccess);
  float x = 1, y = 0;
  EXPECT_EQ(braidAllReduce(&x, &y, 1, braidFloat32, braidSum, comm, nullptr), braidInvalidArgument);
  EXPECT_NE(std::string(braidGetLastError(comm)).find("'tree' does not serve allreduce"),
            std::string::npos)
      << braidGetLastError(comm);
  braidCommDestroy(comm);
  unsetenv("BRAID_ALGO");
}

}  // namespace
}  // namespace braid
