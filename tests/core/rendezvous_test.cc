// The rendezvous refuses a rank that presents another communicator's magic: that rank's init fails
// saying so, and the ranks that did belong fail at the timeout naming the rank that never came.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <thread>

#include "bootstrap/wire.h"
#include "collectives/braid.h"

namespace braid {
namespace {

struct InitResult {
  braidResult_t code = braidSuccess;
  std::string message;
};

InitResult initRank(braidUniqueId id, int rank, int nranks, int timeoutMs) {
  braidConfig_t config = BRAID_CONFIG_INITIALIZER;
  config.timeoutMs = timeoutMs;
  braidComm_t comm = nullptr;
  InitResult r;
  r.code = braidCommInitRankConfig(&comm, nranks, id, rank, &config);
  r.message = braidGetLastError(nullptr);
  if (comm != nullptr) braidCommDestroy(comm);
  return r;
}

TEST(Rendezvous, RefusesAWrongMagicAndNamesTheMissingRank) {
  setenv("BRAID_SOCKET_IFNAME", "lo", 1);
  setenv("BRAID_TIMEOUT_MS", "1500", 1);  // the root's own limit
  braidUniqueId good;
  ASSERT_EQ(braidGetUniqueId(&good), braidSuccess);
  braidUniqueId bad = good;
  bad.internal[offsetof(UniqueIdData, commMagic)] ^= 0x5a;
  InitResult r0, r1;
  std::thread t0([&] { r0 = initRank(good, 0, 2, 3000); });
  std::thread t1([&] { r1 = initRank(bad, 1, 2, 3000); });
  t0.join();
  t1.join();
  unsetenv("BRAID_TIMEOUT_MS");
  EXPECT_NE(r1.code, braidSuccess);
  EXPECT_NE(r1.message.find("wrong communicator magic"), std::string::npos) << r1.message;
  EXPECT_NE(r0.code, braidSuccess);
  EXPECT_NE(r0.message.find("ranks 1 of 2 did not arrive"), std::string::npos) << r0.message;
}

TEST(Rendezvous, RefusesAnIdThatIsNotOne) {
  braidUniqueId zero{};
  braidComm_t comm = nullptr;
  EXPECT_EQ(braidCommInitRank(&comm, 1, zero, 0), braidInvalidArgument);
  EXPECT_NE(std::string(braidGetLastError(nullptr)).find("unique id"), std::string::npos);
  EXPECT_EQ(comm, nullptr);
}

}  // namespace
}  // namespace braid
