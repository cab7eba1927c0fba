// CUDA kernels on device memory, launched on a caller's stream. The header names no CUDA type, so
// plain C++ translation units call them; each returns the launch's cudaError_t as an int (0:
// launched). Built only where nvcc is found (BRAID_HAVE_CUDA).
#pragma once

#include <cstddef>
#include <cstdint>

#include "collectives/braid.h"

namespace braid::cuda {

// out[i] = a[i] (op) b[i] for i < count, then divided by divideBy when divideBy > 1: the semantics
// of braid::reduce (reduce/reduce.h), bit for bit except for which NaN a NaN result carries.
// Narrow float types combine in float and round once (to nearest even, finite overflow
// saturating). out may be a or b exactly. 16-byte loads and stores where all three pointers are
// 16-byte aligned.
int reduce(void* out, const void* a, const void* b, size_t count, braidDataType_t type,
           braidRedOp_t op, int divideBy, void* stream);

// out[0, bytes) = in[0, bytes) by a kernel (16 bytes per load where both are aligned), for the
// paths that fuse copies with other kernel work; a lone copy is cudaMemcpyAsync's job.
int copy(void* out, const void* in, size_t bytes, void* stream);

// One thread that returns once *done or *abort is non-zero. Both words live in host-mapped
// memory (cudaHostAllocMapped); the host sets them. It polls with a short sleep between reads.
int waitHostWord(const volatile uint32_t* done, const volatile uint32_t* abort, void* stream);

}  // namespace braid::cuda
