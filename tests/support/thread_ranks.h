// Ranks as threads in one process: braidCommInitAll makes the communicator, one thread drives
// each rank, and the results come back per rank. The fast way to cover many rank counts.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "collectives/braid.h"

namespace braid::test {

// Runs body(comm, rank) on n threads over one communicator; returns each rank's result. Throws
// std::runtime_error (a failed test under gtest) when the communicator cannot be made.
template <typename Result>
std::vector<Result> runRanks(int n, const std::function<Result(braidComm_t, int)>& body) {
  std::vector<braidComm_t> comms(static_cast<size_t>(n));
  std::vector<Result> results(static_cast<size_t>(n));
  if (braidCommInitAll(comms.data(), n, nullptr) != braidSuccess) {
    // Not a silent pass: default results would read as "no failures".
    throw std::runtime_error(std::string("braidCommInitAll failed: ") + braidGetLastError(nullptr));
  }
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back(
        [&, r] { results[static_cast<size_t>(r)] = body(comms[static_cast<size_t>(r)], r); });
  }
  for (std::thread& t : threads)
    t.join();
  for (braidComm_t c : comms)
    braidCommDestroy(c);
  return results;
}

}  // namespace braid::test
