// The collective correctness matrix, shared by the thread-mode gtest and the process-mode checker
// (run under braidrun). Every rank runs the same sequence of calls; each checks its own output
// against a reference computed here in exact integer or double arithmetic from the inputs every
// rank is known to have (they are a function of rank, index and a seed).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "collectives/braid.h"

namespace braid::test {

// Device memory for the matrix, supplied by a test that links the CUDA runtime (the matrix itself
// does not). Each case mirrors its host buffers, guard bytes included, into memory from alloc,
// calls Braid on those with `stream`, waits for the stream and copies them back before checking.
// Every function works on `stream` alone: with ranks as threads on one GPU, anything that waits
// for the whole device (cudaMalloc, cudaFree) would wait for a peer's kernel that waits for us.
struct DeviceMemory {
  void* stream = nullptr;
  void* (*alloc)(size_t bytes, void* stream) = nullptr;
  void (*release)(void* p, void* stream) = nullptr;
  void (*upload)(void* device, const void* host, size_t bytes, void* stream) = nullptr;
  void (*download)(void* host, const void* device, size_t bytes, void* stream) = nullptr;
  // Waits for everything on the stream; returns "" or what went wrong.
  std::string (*synchronize)(void* stream) = nullptr;
};

struct MatrixOptions {
  // Every type x op through allreduce, reduce and reduce-scatter at these element counts.
  std::vector<size_t> typeOpSizes = {1, 7, 1023};
  // Every collective, in place and out of place, at these element counts (float32 sum and int32
  // max); rooted ones with every root up to 4 ranks, else with roots 0, n/2 and n-1.
  std::vector<size_t> shapeSizes;
  // The collectives to run, by BRAID_ALGO's names (allreduce, reduce, reducescatter, broadcast,
  // allgather, alltoall, barrier) and sendrecv; empty: all of them.
  std::vector<std::string> collectives;
  unsigned seed = 1;
  // Null: the buffers are host memory.
  const DeviceMemory* device = nullptr;
};

// The sizes the issue asks for: 0, 1, 7, 1023, chunk-1, chunk+1, 4 Mi + 3 elements.
std::vector<size_t> standardShapeSizes(size_t chunkBytes, size_t typeSize);

// Runs the matrix on comm; returns the number of failed checks (each printed to stderr).
int runMatrix(braidComm_t comm, const MatrixOptions& options);

}  // namespace braid::test
