// Chunk arithmetic shared by the pipelined algorithms: n near-equal blocks over a buffer, and the
// walk over a block in chunks. Both ends of a connection cut identically, which is what lets the
// wire carry no lengths.
#pragma once

#include <algorithm>
#include <cstddef>

namespace braid {

// `count` elements cut into n blocks whose sizes differ by at most one element.
struct Blocks {
  size_t count;
  int n;
  size_t size(int i) const {
    size_t q = count / static_cast<size_t>(n);
    return q + (static_cast<size_t>(i) < count % static_cast<size_t>(n) ? 1 : 0);
  }
  size_t offset(int i) const {
    size_t q = count / static_cast<size_t>(n);
    size_t r = count % static_cast<size_t>(n);
    return q * static_cast<size_t>(i) + std::min(static_cast<size_t>(i), r);
  }
};

// Calls f(offset, length) for each chunk of [begin, begin + length), in order.
template <typename F>
void forEachChunk(size_t begin, size_t length, size_t chunkElems, F&& f) {
  for (size_t done = 0; done < length; done += chunkElems) {
    f(begin + done, std::min(chunkElems, length - done));
  }
}

inline int wrap(int i, int n) {
  return ((i % n) + n) % n;
}

}  // namespace braid
