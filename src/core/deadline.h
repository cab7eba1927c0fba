// A wait's limit: a point in time plus the communicator's abort flag. Every blocking loop in Braid
// polls with pollTimeoutMs() and calls check(), so no wait outlives BRAID_TIMEOUT_MS or an abort.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace braid {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // ms <= 0 waits forever (still honouring abort).
  static Deadline after(int64_t ms, const std::atomic<bool>* abort = nullptr);

  bool expired() const { return !forever_ && Clock::now() >= end_; }
  bool aborted() const { return abort_ != nullptr && abort_->load(std::memory_order_relaxed); }
  // A poll() timeout that wakes early enough to notice an abort: at most kAbortCheckMs.
  int pollTimeoutMs() const;
  // Throws braidTimeout ("<what> timed out after N ms") or the abort error when due.
  void check(const std::string& what) const;
  int64_t limitMs() const { return limitMs_; }

  static constexpr int kAbortCheckMs = 50;

 private:
  Clock::time_point end_{};
  bool forever_ = true;
  int64_t limitMs_ = 0;
  const std::atomic<bool>* abort_ = nullptr;
};

}  // namespace braid
