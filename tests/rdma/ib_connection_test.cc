// IbConnection on a real verbs device, both ends in this process: one on the first device, the
// other on the last (rxe0 and rxe1 in the Soft-RoCE VM, so packets cross the link), with a
// socketpair as the side channel. Checks what the collective tests cannot isolate: every kind of
// message (staging slot; caller memory copied into a slot, written from registered memory into a
// slot, or written straight into the receiver's advertised buffer), more direct messages than the
// advert ring holds, and the transport's own failure reports (in a communicator the control ring
// usually notices a dead rank first): a peer that went away, and a queue pair whose writes are
// never acknowledged (the failed completion's verbs status is named).
// Run by rdma_test.sh, which skips where there is no device; here a missing port is a failure.
#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "transport/ib/ib_transport.h"

namespace braid {
namespace {

using Clock = std::chrono::steady_clock;

// Twice the transport's advert ring (IbConnection::kAdverts), so that its reuse is exercised.
constexpr int kTwiceTheAdverts = 8;

std::vector<std::string> verbsDevices() {
  std::vector<std::string> names;
  DIR* dir = opendir("/sys/class/infiniband");
  if (dir == nullptr) return names;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::shared_ptr<IbPort> openPort(const std::string& device) {
  setenv("BRAID_IB_HCA", ("=" + device).c_str(), 1);
  IbProbe probe = probeIb();
  unsetenv("BRAID_IB_HCA");
  EXPECT_TRUE(probe.port) << device << ": " << probe.description;
  return probe.port;
}

struct Pair {
  std::unique_ptr<Connection> a;  // rank 0's connection to rank 1
  std::unique_ptr<Connection> b;  // rank 1's connection to rank 0
  Fd spareSide;                   // a second handle on b's side channel, when asked for
};

Pair connectPair(size_t slotBytes, int nslots, bool keepSideOpen) {
  std::vector<std::string> devs = verbsDevices();
  if (devs.empty()) {
    ADD_FAILURE() << "no verbs device";
    return {};
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    ADD_FAILURE() << "socketpair failed";
    return {};
  }
  Pair p;
  if (keepSideOpen) p.spareSide = Fd(dup(sv[1]));
  std::shared_ptr<IbPort> first = openPort(devs.front());
  std::shared_ptr<IbPort> last = openPort(devs.back());
  if (!first || !last) return {};
  Deadline d = Deadline::after(10000);
  p.a = makeIbConnection(1, first, Fd(sv[0]), slotBytes, nslots, d);
  p.b = makeIbConnection(0, last, Fd(sv[1]), slotBytes, nslots, d);
  return p;
}

// Drives both ends like the communicator's wait loop (progress, else sleep in poll) until done()
// or 60 s; false on timeout. Errors from progress() propagate.
bool pump(std::vector<Connection*> conns, const std::function<bool()>& done) {
  Clock::time_point end = Clock::now() + std::chrono::seconds(60);
  while (!done()) {
    if (Clock::now() > end) return false;
    bool moved = false;
    for (Connection* c : conns)
      moved |= c->progress();
    if (moved) continue;
    std::vector<pollfd> fds;
    bool sleep = true;
    for (Connection* c : conns)
      sleep = sleep && c->prepareToSleep(&fds);
    if (sleep) poll(fds.data(), fds.size(), 10);
  }
  return true;
}

// One byte each way: afterwards both queue pairs are connected (the handshake is done).
bool exchangeHello(Pair& p) {
  char ping = 1, pong = 2, gotPing = 0, gotPong = 0;
  p.b->postRecv(&gotPing, 1);
  p.a->postRecv(&gotPong, 1);
  p.a->postSend(&ping, 1);
  p.b->postSend(&pong, 1);
  bool ok = pump({p.a.get(), p.b.get()}, [&] {
    return p.a->recvReady() && p.b->recvReady() && p.a->sendsDone() && p.b->sendsDone();
  });
  if (!ok) return false;
  p.a->recvDone();
  p.b->recvDone();
  return gotPing == ping && gotPong == pong;
}

std::vector<char> pattern(size_t bytes, int seed) {
  std::vector<char> v(bytes);
  for (size_t i = 0; i < bytes; ++i)
    v[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed) * 7) % 251);
  return v;
}

TEST(IbConnection, EveryKindOfSendReachesEveryKindOfReceive) {
  const size_t slot = 96 << 10;
  Pair p = connectPair(slot, 2, false);
  ASSERT_TRUE(p.a && p.b);
  std::vector<char> staged = pattern(slot - 3, 1);
  std::vector<char> small = pattern(5000, 2);             // copied into a staging slot
  std::vector<char> medium = pattern(80 << 10, 3);        // from registered memory into a slot
  std::vector<char> large = pattern((300 << 10) + 7, 4);  // straight into the receiver's buffer
  std::vector<char> smallOut(small.size()), mediumOut(medium.size()), largeOut(large.size());
  // Receives are posted in wire order, the staged one between others into caller memory.
  p.b->postRecv(smallOut.data(), smallOut.size());
  p.b->postRecvSlot(staged.size());
  p.b->postRecv(largeOut.data(), largeOut.size());
  p.b->postRecv(mediumOut.data(), mediumOut.size());
  p.a->postSend(small.data(), small.size());
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] { return p.a->sendSlotFree(); }));
  std::memcpy(p.a->sendSlot(), staged.data(), staged.size());
  p.a->postSlot(staged.size());
  p.a->postSend(large.data(), large.size());
  p.a->postSend(medium.data(), medium.size());
  int consumed = 0;
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] {
    while (p.b->recvReady()) {
      if (consumed == 1) {
        EXPECT_EQ(std::memcmp(p.b->recvData(), staged.data(), staged.size()), 0);
      }
      p.b->recvDone();
      ++consumed;
    }
    return consumed == 4 && p.a->sendsDone();
  }));
  EXPECT_EQ(smallOut, small);
  EXPECT_EQ(mediumOut, medium);
  EXPECT_EQ(largeOut, large);
  p.a->operationDone();
  p.b->operationDone();
}

// The binomial reduce takes a slot, then waits (progress() runs, completions free other slots)
// before it fills and posts it: postSlot() must send the slot sendSlot() returned.
TEST(IbConnection, SendSlotStaysTheSameWhileProgressRuns) {
  const size_t slot = 4096;
  Pair p = connectPair(slot, 2, false);
  ASSERT_TRUE(p.a && p.b);
  std::vector<char> first = pattern(slot, 7), second = pattern(slot, 8);
  p.b->postRecvSlot(slot);
  p.b->postRecvSlot(slot);
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] { return p.a->sendSlotFree(); }));
  std::memcpy(p.a->sendSlot(), first.data(), slot);
  p.a->postSlot(slot);
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] { return p.a->sendSlotFree(); }));
  char* taken = static_cast<char*>(p.a->sendSlot());
  // The first write completes meanwhile and its staging slot comes free.
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] { return p.a->sendsDone(); }));
  EXPECT_EQ(p.a->sendSlot(), taken);
  std::memcpy(taken, second.data(), slot);
  p.a->postSlot(slot);
  int consumed = 0;
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] {
    while (p.b->recvReady()) {
      const std::vector<char>& want = consumed == 0 ? first : second;
      EXPECT_EQ(std::memcmp(p.b->recvData(), want.data(), slot), 0) << "message " << consumed;
      p.b->recvDone();
      ++consumed;
    }
    return consumed == 2 && p.a->sendsDone();
  }));
}

TEST(IbConnection, DirectMessagesOutnumberingTheAdvertRing) {
  const size_t slot = 4096;
  Pair p = connectPair(slot, 2, false);
  ASSERT_TRUE(p.a && p.b);
  // One after another, into one buffer reused at the same address, each in its own operation.
  std::vector<char> out((64 << 10) + 3);
  for (int round = 0; round < kTwiceTheAdverts; ++round) {
    std::vector<char> in = pattern(out.size(), 5 + round);
    p.a->postRecv(out.data(), out.size());
    p.b->postSend(in.data(), in.size());
    ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] { return p.a->recvReady() && p.b->sendsDone(); }));
    p.a->recvDone();
    EXPECT_EQ(out, in) << "round " << round;
    p.a->operationDone();
    p.b->operationDone();
  }
  // All posted at once, alternating directions: in each, more receives than the ring holds.
  std::vector<std::vector<char>> many, manyOut;
  for (int i = 0; i < 2 * kTwiceTheAdverts; ++i) {
    many.push_back(pattern(slot + 1 + static_cast<size_t>(i), 20 + i));
    manyOut.emplace_back(many.back().size());
  }
  for (int i = 0; i < 2 * kTwiceTheAdverts; ++i) {
    Connection* to = i % 2 == 0 ? p.b.get() : p.a.get();
    to->postRecv(manyOut[static_cast<size_t>(i)].data(), manyOut[static_cast<size_t>(i)].size());
  }
  for (int i = 0; i < 2 * kTwiceTheAdverts; ++i) {
    Connection* from = i % 2 == 0 ? p.a.get() : p.b.get();
    from->postSend(many[static_cast<size_t>(i)].data(), many[static_cast<size_t>(i)].size());
  }
  int got = 0;
  ASSERT_TRUE(pump({p.a.get(), p.b.get()}, [&] {
    for (Connection* c : {p.a.get(), p.b.get()}) {
      while (c->recvReady()) {
        c->recvDone();
        ++got;
      }
    }
    return got == 2 * kTwiceTheAdverts && p.a->sendsDone() && p.b->sendsDone();
  }));
  EXPECT_EQ(manyOut, many);
}

TEST(IbConnection, PeerThatWentAwayIsARemoteErrorNamingIt) {
  Pair p = connectPair(4096, 2, false);
  ASSERT_TRUE(p.a && p.b);
  ASSERT_TRUE(exchangeHello(p));
  p.b.reset();  // the process of rank 1 is gone: its side channel closes
  std::vector<char> in(100);
  p.a->postRecv(in.data(), in.size());
  try {
    pump({p.a.get()}, [] { return false; });
    FAIL() << "waiting for a vanished peer did not fail within 60 s";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidRemoteError) << e.what();
    EXPECT_NE(std::string(e.what()).find("rank 1 closed its ib connection"), std::string::npos)
        << e.what();
  }
}

TEST(IbConnection, UnacknowledgedWriteFailsWithTheVerbsStatus) {
  // A short ACK timeout and one retry, so the failure comes in milliseconds.
  setenv("BRAID_IB_TIMEOUT", "8", 1);
  setenv("BRAID_IB_RETRY_CNT", "1", 1);
  Pair p = connectPair(4096, 2, true);
  unsetenv("BRAID_IB_TIMEOUT");
  unsetenv("BRAID_IB_RETRY_CNT");
  ASSERT_TRUE(p.a && p.b);
  ASSERT_TRUE(exchangeHello(p));
  p.b.reset();  // its queue pair is destroyed, but the side channel stays open (spareSide)
  std::vector<char> out = pattern(1000, 5);
  p.a->postSend(out.data(), out.size());
  try {
    bool done = pump({p.a.get()}, [&] { return p.a->sendsDone(); });
    FAIL() << (done ? "a write nobody acknowledged completed" : "no failure within 60 s");
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_EQ(e.code(), braidRemoteError) << what;
    EXPECT_NE(what.find("ib connection to rank 1 failed: "), std::string::npos) << what;
    EXPECT_NE(what.find("retry"), std::string::npos) << "not the verbs status: " << what;
  }
}

}  // namespace
}  // namespace braid
