// The rendezvous root. Its errors are sent to the ranks that arrived (kRootError) so each rank's
// init fails with a message naming the ranks that never came.
#include "bootstrap/root.h"

#include <poll.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "bootstrap/wire.h"
#include "core/error.h"
#include "core/log.h"

namespace braid {

namespace {

struct Arrival {
  Fd fd;
  SockAddr listen;
};

// Roots of this process that are sending failure replies, for waitForRootFailureReplies.
std::mutex gReplyMu;
std::condition_variable gReplyDone;
int gReplying = 0;

// Counts a root as replying for its lifetime.
class Replying {
 public:
  Replying() {
    std::lock_guard<std::mutex> lock(gReplyMu);
    ++gReplying;
  }
  ~Replying() {
    std::lock_guard<std::mutex> lock(gReplyMu);
    --gReplying;
    gReplyDone.notify_all();
  }
  Replying(const Replying&) = delete;
  Replying& operator=(const Replying&) = delete;
};

void sendError(int fd, const std::string& text) {
  try {
    sendFrame(fd, MsgType::kRootError, text.data(), static_cast<uint32_t>(text.size()),
              Deadline::after(1000), "root error reply");
  } catch (const Error&) {
    // The rank is gone; nothing more to tell it.
  }
}

void serve(Fd listener, uint64_t commMagic, int64_t timeoutMs) {
  Deadline deadline = Deadline::after(timeoutMs);
  std::map<int, Arrival> arrived;
  int nranks = -1;
  while (nranks < 0 || static_cast<int>(arrived.size()) < nranks) {
    if (deadline.expired()) {
      std::ostringstream missing;
      int shown = 0;
      for (int r = 0; r < nranks && shown < 16; ++r) {
        if (arrived.count(r) == 0) missing << (shown++ ? "," : "") << r;
      }
      std::string text = "rendezvous timed out after " + std::to_string(timeoutMs) + " ms: ranks " +
                         missing.str() + " of " + std::to_string(nranks) + " did not arrive";
      BRAID_WARN(kBoot, "%s", text.c_str());
      Replying replying;
      for (auto& [r, a] : arrived)
        sendError(a.fd.get(), text);
      return;
    }
    Fd fd = acceptOne(listener.get(), deadline);
    if (!fd.valid()) continue;
    std::vector<char> payload;
    RootHello hello{};
    try {
      MsgType t = recvFrame(fd.get(), &payload, Deadline::after(5000), "rendezvous hello");
      if (t != MsgType::kRootHello || payload.size() != sizeof(RootHello)) {
        fail(braidRemoteError, "unexpected message type ", static_cast<int>(t));
      }
      std::memcpy(&hello, payload.data(), sizeof(hello));
    } catch (const Error& e) {
      BRAID_WARN(kBoot, "rendezvous root refused a connection: %s", e.what());
      continue;
    }
    if (hello.commMagic != commMagic) {
      BRAID_WARN(kBoot, "rendezvous root refused rank %d: wrong magic (a different unique id?)",
                 hello.rank);
      sendError(fd.get(), "wrong communicator magic: this root serves another unique id");
      continue;
    }
    if (nranks < 0) nranks = hello.nranks;
    std::string problem;
    if (hello.nranks != nranks) {
      problem = "rank " + std::to_string(hello.rank) +
                " says nranks=" + std::to_string(hello.nranks) + " but an earlier rank said " +
                std::to_string(nranks);
    } else if (hello.rank < 0 || hello.rank >= nranks) {
      problem = "rank " + std::to_string(hello.rank) + " is out of range for " +
                std::to_string(nranks) + " ranks";
    } else if (arrived.count(hello.rank) != 0) {
      problem = "rank " + std::to_string(hello.rank) + " joined twice";
    }
    if (!problem.empty()) {
      BRAID_WARN(kBoot, "rendezvous failed: %s", problem.c_str());
      Replying replying;
      sendError(fd.get(), problem);
      for (auto& [r, a] : arrived)
        sendError(a.fd.get(), problem);
      return;
    }
    arrived[hello.rank] = Arrival{std::move(fd), hello.listen};
  }
  std::vector<SockAddr> table(static_cast<size_t>(nranks));
  for (auto& [r, a] : arrived)
    table[static_cast<size_t>(r)] = a.listen;
  for (auto& [r, a] : arrived) {
    try {
      sendFrame(a.fd.get(), MsgType::kRootTable, table.data(),
                static_cast<uint32_t>(table.size() * sizeof(SockAddr)), deadline, "root table");
    } catch (const Error& e) {
      BRAID_WARN(kBoot, "rendezvous root could not answer rank %d: %s", r, e.what());
    }
  }
  BRAID_INFO(kBoot, "rendezvous root served %d ranks", nranks);
}

}  // namespace

void waitForRootFailureReplies(int64_t ms) {
  std::unique_lock<std::mutex> lock(gReplyMu);
  gReplyDone.wait_for(lock, std::chrono::milliseconds(ms), [] { return gReplying == 0; });
}

void startRendezvousRoot(Fd listener, uint64_t commMagic, int64_t timeoutMs) {
  std::thread([l = std::move(listener), commMagic, timeoutMs]() mutable {
    try {
      serve(std::move(l), commMagic, timeoutMs);
    } catch (const std::exception& e) {
      BRAID_WARN(kBoot, "rendezvous root stopped: %s", e.what());
    }
  }).detach();
}

}  // namespace braid
