// ShmConnection's single copy and small-message ring, driven from one thread (both ends in one
// process, so the receiver reads the sender's memory with memcpy; between processes the same logic
// calls process_vm_readv, which the forked matrix tests cover):
//  - direct sends that continue each other's memory go as one descriptor, the receiver scatters
//    it over the receives it covers as they are posted, and a descriptor that does not end where
//    a message does is refused;
//  - small messages (up to 4 KiB) go through the ring, from caller memory or staged, in any mix
//    with large ones, round the ring and past its end; a sender waiting for room gets it from a
//    receiver that polls with nothing to do, and a staged sender asleep until then is woken; an
//    earlier lap's payload never passes for a record; a message of a length the receiver does
//    not expect is refused.
#include <poll.h>
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
// Above the ring's 4 KiB, so that direct sends may go single copy; three chunks make a contiguous
// run of 15000 bytes.
constexpr size_t kChunk = 5000;

struct Pair {
  std::unique_ptr<ShmConnection> a;  // sends
  std::unique_ptr<ShmConnection> b;  // receives
};

// Two connected ends with single copy on for operations of 1..1M bytes, handshake done.
Pair connectedPair() {
  int fds[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  Deadline d = Deadline::after(5000);
  Pair p{std::make_unique<ShmConnection>(1, Fd(fds[0]), kSlotBytes, kSlots, 1, 1 << 20, true, d),
         std::make_unique<ShmConnection>(0, Fd(fds[1]), kSlotBytes, kSlots, 1, 1 << 20, true, d)};
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
  p.b->postRecv(out.data() + 2 * kChunk, 2 * kChunk);  // would need bytes beyond the 15000 sent
  try {
    p.b->progress();
    FAIL() << "a 15000-byte descriptor filled receives of 10000 and 10000 bytes";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidRemoteError);
    EXPECT_NE(std::string(e.what()).find("does not end where an expected message does"),
              std::string::npos)
        << e.what();
  }
}

// Moves traffic both ways until b has every receive it posted, consuming them in order.
void drain(Pair& p) {
  for (int i = 0; i < 1000 && !p.b->recvsDone(); ++i) {
    p.a->progress();
    p.b->progress();
    while (p.b->recvReady())
      p.b->recvDone();
  }
  EXPECT_TRUE(p.b->recvsDone());
  EXPECT_TRUE(p.a->sendsDone());
}

TEST(ShmRing, SmallAndLargeMessagesInAnyMixArriveIntact) {
  Pair p = connectedPair();
  p.a->beginOperation(2 << 20);  // outside the single-copy window: every byte through the slots
  p.b->beginOperation(2 << 20);
  // Around the ring's 4 KiB limit (which is also a slot here), messages of several slots, and
  // enough small ones to go round the ring several times, with records that must skip its end
  // (the sender waits for room meanwhile, which the receiver hands back as it goes).
  std::vector<size_t> sizes = {40, 8, 4096, 4097, 1, 10000, 17, 1000, 1000, 1000, 1000, 1000, 3};
  for (size_t i = 0; i < 100; ++i)
    sizes.push_back(i % 3 == 0 ? 4096 : 8 + 397 * i % 4000);
  std::vector<std::vector<char>> in, out;
  for (size_t i = 0; i < sizes.size(); ++i) {
    in.push_back(pattern(sizes[i]));
    in.back()[0] = static_cast<char>(i);
    out.emplace_back(sizes[i], 0);
    p.a->postSend(in[i].data(), sizes[i]);
    p.b->postRecv(out[i].data(), sizes[i]);
  }
  drain(p);
  for (size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(out[i], in[i]) << "message " << i << " of " << sizes[i] << " bytes";
}

TEST(ShmRing, ASenderWaitingForRoomGetsItFromAReceiverWithNothingToDo) {
  Pair p = connectedPair();
  std::vector<char> in = pattern(1000);
  // Records of 1008 bytes fill the ring; the last message waits for room.
  size_t n = ShmConnection::kRingBytes / 1008 + 1;
  for (size_t i = 0; i < n; ++i)
    p.a->postSend(in.data(), in.size());
  while (p.a->progress()) {
  }
  EXPECT_FALSE(p.a->sendsDone());
  // The receiver takes two messages (the last one needs the end of the lap it skips, its record
  // and a word beyond), less than the quarter of the ring it hands back unasked.
  std::vector<char> out(1000);
  for (int i = 0; i < 2; ++i) {
    p.b->postRecv(out.data(), out.size());
    EXPECT_TRUE(p.b->progress());
    ASSERT_TRUE(p.b->recvReady());
    p.b->recvDone();
  }
  while (p.a->progress()) {
  }
  EXPECT_FALSE(p.a->sendsDone());  // not handed back yet
  EXPECT_FALSE(p.b->progress());   // a poll with nothing to do hands it back
  p.a->progress();
  EXPECT_TRUE(p.a->sendsDone());
  EXPECT_EQ(out, in);
}

TEST(ShmRing, AStagedSendWaitingForTheRingsRoomIsWokenWhenItFrees) {
  Pair p = connectedPair();
  // Staged 4 KiB messages fill the ring (they take no slot, so only the ring runs out).
  std::vector<char> in = pattern(ShmConnection::kSmallMaxMessage);
  size_t sent = 0;
  for (; p.a->sendSlotFree(); ++sent) {
    std::memcpy(p.a->sendSlot(), in.data(), in.size());
    p.a->postSlot(in.size());
  }
  ASSERT_GT(sent, 2u);
  // The sender goes to sleep: it must watch for the room it waits for.
  std::vector<pollfd> fds;
  for (int i = 0; i < 10 && !p.a->prepareToSleep(&fds); ++i) {
    fds.clear();
    p.a->progress();
  }
  ASSERT_EQ(fds.size(), 1u) << "a sender waiting for the ring's room would not be woken";
  // The receiver takes every message, handing the ring back: that rings the sender's bell.
  std::vector<char> out(in.size());
  for (size_t i = 0; i < sent; ++i)
    p.b->postRecv(out.data(), out.size());
  for (int i = 0; i < 1000 && !p.b->recvsDone(); ++i) {
    p.b->progress();
    while (p.b->recvReady())
      p.b->recvDone();
  }
  ASSERT_TRUE(p.b->recvsDone());
  p.b->progress();  // nothing to do: hands back the rest
  EXPECT_EQ(poll(fds.data(), fds.size(), 0), 1) << "no wake-up for the sender";
  p.a->progress();
  EXPECT_TRUE(p.a->sendSlotFree());
  EXPECT_EQ(out, in);
}

TEST(ShmRing, PayloadFromAnEarlierLapNeverPassesForAStamp) {
  Pair p = connectedPair();
  // The layout small() describes: records start every 16 bytes at most, and the stamp of one at
  // stream position q holds (q / 16 + 1) << 16 | its length. The first lap is filled with records
  // of 4000-byte messages whose every word that lies where the next lap may put a stamp holds
  // exactly the stamp an 8-byte message would have there.
  constexpr size_t kRing = ShmConnection::kRingBytes;
  constexpr size_t kBig = 4000, kRecord = 4016;  // 8 bytes of stamp and 4000, padded to 16
  auto stamp = [](uint64_t q) { return (q / 16 + 1) << 16 | 8; };
  size_t bigs = kRing / kRecord;
  std::vector<std::vector<char>> big(bigs, std::vector<char>(kBig));
  for (size_t m = 0; m < bigs; ++m) {
    for (size_t at = 8; at + 8 <= kBig; at += 16) {
      uint64_t word = stamp(kRing + m * kRecord + 8 + at);
      std::memcpy(big[m].data() + at, &word, sizeof(word));
    }
  }
  std::vector<char> out(kBig);
  for (size_t m = 0; m < bigs; ++m) {
    p.a->postSend(big[m].data(), kBig);
    p.b->postRecv(out.data(), kBig);
  }
  drain(p);
  EXPECT_EQ(out, big.back());
  // 8-byte messages up to the next lap, and one into it: the next record's stamp then goes where
  // the first 4000-byte message had a word that looks like it.
  std::vector<char> small = pattern(8), got(8);
  for (size_t q = bigs * kRecord; q <= kRing; q += 16) {
    p.a->postSend(small.data(), small.size());
    p.b->postRecv(got.data(), got.size());
  }
  drain(p);
  p.b->postRecv(got.data(), got.size());
  for (int i = 0; i < 10; ++i)
    p.b->progress();
  EXPECT_FALSE(p.b->recvsDone()) << "a record arrived that was never sent";
  small[0] = 42;
  p.a->postSend(small.data(), small.size());
  drain(p);
  EXPECT_EQ(got, small);
}

TEST(ShmRing, StagedSmallMessagesAreReadInPlace) {
  Pair p = connectedPair();
  std::vector<char> header = pattern(40);
  std::vector<char> payload = pattern(300);
  std::vector<char> header2 = pattern(24);
  p.a->postSend(header.data(), header.size());
  p.a->progress();
  // A fused step's slot: written in place, then posted.
  ASSERT_TRUE(p.a->sendSlotFree());
  std::memcpy(p.a->sendSlot(), payload.data(), payload.size());
  p.a->postSlot(payload.size());
  p.a->postSend(header2.data(), header2.size());
  p.a->progress();
  std::vector<char> gotHeader(40), gotHeader2(24);
  p.b->postRecv(gotHeader.data(), gotHeader.size());
  p.b->postRecvSlot(payload.size());
  p.b->postRecv(gotHeader2.data(), gotHeader2.size());
  for (int i = 0; i < 10 && !p.b->recvReady(); ++i)
    p.b->progress();
  ASSERT_TRUE(p.b->recvReady());
  p.b->recvDone();
  EXPECT_EQ(gotHeader, header);
  for (int i = 0; i < 10 && !p.b->recvReady(); ++i)
    p.b->progress();
  ASSERT_TRUE(p.b->recvReady());
  EXPECT_EQ(std::memcmp(p.b->recvData(), payload.data(), payload.size()), 0);
  p.b->recvDone();
  drain(p);
  EXPECT_EQ(gotHeader2, header2);
}

TEST(ShmRing, ASmallMessageOfAnotherLengthIsRefused) {
  Pair p = connectedPair();
  std::vector<char> in = pattern(300);
  for (int i = 0; i < 3; ++i)
    p.a->postSend(in.data(), in.size());
  p.a->progress();
  std::vector<char> out(2 * 600);
  p.b->postRecv(out.data(), 300);
  p.b->postRecv(out.data() + 300, 600);  // the second message is 300 bytes
  try {
    // Refused once the first receive has been consumed: an earlier message (a header) may
    // explain the disagreement better, and is looked at first.
    for (int i = 0; i < 10; ++i) {
      p.b->progress();
      while (p.b->recvReady())
        p.b->recvDone();
    }
    FAIL() << "a small message of 300 bytes filled a receive of 600 bytes";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidRemoteError);
    EXPECT_NE(std::string(e.what()).find("small message of 300 bytes where one of 600"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace braid
