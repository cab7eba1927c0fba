// Where a buffer lives. Braid links no CUDA library: when the CUDA driver (libcuda.so.1) can be
// loaded at run time it is asked about each pointer; otherwise every pointer is host memory.
#pragma once

namespace braid {

enum class MemoryKind { kHost, kDevice };

// Pinned host memory and managed memory count as host memory: the CPU can reach them.
MemoryKind memoryKind(const void* ptr);

}  // namespace braid
