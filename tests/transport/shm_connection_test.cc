// ShmConnection's single copy, driven from one thread (both ends in one process, so the receiver
// reads the sender's memory with memcpy; between processes the same logic calls
// process_vm_readv, which the forked matrix tests cover): direct sends that continue each other's
// memory go as one descriptor, the receiver scatters it over the receives it covers as they are
// posted, and a descriptor that does not end where a message does is refused.
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "transport/shm_connection.h"

namespace braid {
namespace {

constexpr size_t kSlotBytes = 4096;
constexpr int kSlots = 2;
constexpr size_t kChunk = 1000;  // three chunks: one contiguous run of 3000 bytes

struct Pair {
  std::unique_ptr<ShmConnection> a;  // sends
  std::unique_ptr<ShmConnection> b;  // receives
};

// Two connected ends with single copy on for operations of 1..1M bytes, handshake done.
Pair connectedPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Deadline d = Deadline::after(5000);
  Pair p{std::make_unique<ShmConnection>(1, Fd(fds[0]), kSlotBytes, kSlots, 1, 1 << 20, d),
         std::make_unique<ShmConnection>(0, Fd(fds[1]), kSlotBytes, kSlots, 1, 1 << 20, d)};
  for (int i = 0; i < 1000 && !(p.a->sendSlotFree() && p.b->recvsDone()); ++i) {
    p.a->progress();
    p.b->progress();
  }
  EXPECT_TRUE(p.a->sendSlotFree()) << "handshake did not finish";
  p.a->beginOperation(3 * kChunk);
  p.b->beginOperation(3 * kChunk);
  return p;
}

std::vector<char> pattern(size_t n) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = static_cast<char>(i * 7 + 3);
  return v;
}

void postThreeDirectChunks(Connection& c, const std::vector<char>& in) {
  for (size_t o = 0; o < in.size(); o += kChunk)
    c.postSendDirect(in.data() + o, kChunk);
}

TEST(ShmSingleCopy, ContiguousDirectSendsTravelAsOneDescriptorAndScatterOverReceives) {
  Pair p = connectedPair();
  std::vector<char> in = pattern(3 * kChunk);
  postThreeDirectChunks(*p.a, in);
  p.a->progress();
  // One descriptor took one of the two slots; three would have filled both and queued the third.
  EXPECT_TRUE(p.a->sendSlotFree());
  EXPECT_FALSE(p.a->sendsDone());  // the buffer is still the sender's until read
  std::vector<std::vector<char>> out(3, std::vector<char>(kChunk, 0));
  for (auto& o : out)
    p.b->postRecv(o.data(), kChunk);
  p.b->progress();
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(p.b->recvReady()) << "receive " << i;
    EXPECT_EQ(std::memcmp(out[i].data(), in.data() + i * kChunk, kChunk), 0) << "receive " << i;
    p.b->recvDone();
  }
  p.a->progress();
  EXPECT_TRUE(p.a->sendsDone());
}

TEST(ShmSingleCopy, ReceivesPostedLaterReadTheRestOfTheDescriptor) {
  Pair p = connectedPair();
  std::vector<char> in = pattern(3 * kChunk);
  postThreeDirectChunks(*p.a, in);
  p.a->progress();
  std::vector<char> out(3 * kChunk, 0);
  p.b->postRecv(out.data(), kChunk);
  p.b->progress();
  ASSERT_TRUE(p.b->recvReady());
  p.b->recvDone();
  p.a->progress();
  EXPECT_FALSE(p.a->sendsDone());  // two thirds are still unread
  p.b->postRecv(out.data() + kChunk, kChunk);
  p.b->postRecv(out.data() + 2 * kChunk, kChunk);
  p.b->progress();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(p.b->recvReady());
    p.b->recvDone();
  }
  EXPECT_EQ(out, in);
  p.a->progress();
  EXPECT_TRUE(p.a->sendsDone());
}

TEST(ShmSingleCopy, OutsideTheOperationWindowMessagesGoThroughTheSlots) {
  Pair p = connectedPair();
  p.a->beginOperation(2 << 20);  // above the window's 1M
  std::vector<char> in = pattern(3 * kChunk);
  postThreeDirectChunks(*p.a, in);
  p.a->progress();
  EXPECT_FALSE(p.a->sendSlotFree());  // copied into both slots, the third piece waiting for one
  std::vector<char> out(3 * kChunk, 0);
  for (size_t o = 0; o < out.size(); o += kChunk)
    p.b->postRecv(out.data() + o, kChunk);
  for (int i = 0; i < 10 && !p.b->recvsDone(); ++i) {
    p.a->progress();
    p.b->progress();
    while (p.b->recvReady())
      p.b->recvDone();
  }
  EXPECT_EQ(out, in);
}

TEST(ShmSingleCopy, ADescriptorThatSplitsAMessageIsRefused) {
  Pair p = connectedPair();
  std::vector<char> in = pattern(3 * kChunk);
  postThreeDirectChunks(*p.a, in);
  p.a->progress();
  std::vector<char> out(4 * kChunk, 0);
  p.b->postRecv(out.data(), 2 * kChunk);
  p.b->postRecv(out.data() + 2 * kChunk, 2 * kChunk);  // would need bytes beyond the 3000 sent
  try {
    p.b->progress();
    FAIL() << "a 3000-byte descriptor filled receives of 2000 and 2000 bytes";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidRemoteError);
    EXPECT_NE(std::string(e.what()).find("does not end where an expected message does"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace braid
