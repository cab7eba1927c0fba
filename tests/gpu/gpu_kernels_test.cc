// The CUDA reduction and copy kernels against the CPU kernels (reduce/reduce.h), which the unit
// suite checks against exact references: every type x op, with and without a divisor, at sizes
// around the 16-byte vector width, from aligned and misaligned addresses, out of place and in
// place, over random bit patterns (NaNs, infinities and subnormals included). Results must match
// bit for bit, except that any NaN matches any NaN.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cuda/kernels.h"
#include "gpu_support.h"
#include "reduce/reduce.h"

namespace {

bool isNan(braidDataType_t type, const unsigned char* p) {
  uint64_t u = 0;
  std::memcpy(&u, p, braid::dataTypeSize(type));
  switch (type) {
    case braidFloat16:
      return (u & 0x7c00) == 0x7c00 && (u & 0x3ff) != 0;
    case braidBfloat16:
      return (u & 0x7f80) == 0x7f80 && (u & 0x7f) != 0;
    case braidFloat8e4m3:
      return (u & 0x7f) == 0x7f;
    case braidFloat8e5m2:
      return (u & 0x7c) == 0x7c && (u & 3) != 0;
    case braidFloat32: {
      float f;
      std::memcpy(&f, p, 4);
      return std::isnan(f);
    }
    case braidFloat64: {
      double d;
      std::memcpy(&d, p, 8);
      return std::isnan(d);
    }
    default:
      return false;
  }
}

int failures = 0;

void compare(const char* what, braidDataType_t type, braidRedOp_t op, int divideBy, size_t count,
             size_t offset, const std::vector<unsigned char>& want,
             const std::vector<unsigned char>& got) {
  size_t es = braid::dataTypeSize(type);
  for (size_t i = 0; i < count; ++i) {
    const unsigned char* w = want.data() + i * es;
    const unsigned char* g = got.data() + i * es;
    if (std::memcmp(w, g, es) == 0 || (isNan(type, w) && isNan(type, g))) continue;
    uint64_t wb = 0, gb = 0;
    std::memcpy(&wb, w, es);
    std::memcpy(&gb, g, es);
    fprintf(stderr,
            "FAIL %s %s %s /%d count=%zu offset=%zu: element %zu is %#llx, CPU says %#llx\n", what,
            braid::dataTypeName(type), braid::redOpName(op), divideBy, count, offset, i,
            static_cast<unsigned long long>(gb), static_cast<unsigned long long>(wb));
    ++failures;
    return;
  }
}

void checkReduce(braidDataType_t type, braidRedOp_t op, int divideBy, size_t count, size_t offset,
                 bool inPlace, std::mt19937_64& rng, cudaStream_t stream) {
  size_t es = braid::dataTypeSize(type);
  size_t bytes = count * es;
  std::vector<unsigned char> a(bytes), b(bytes), want(bytes), got(bytes);
  for (auto& x : a)
    x = static_cast<unsigned char>(rng());
  for (auto& x : b)
    x = static_cast<unsigned char>(rng());
  braid::reduce(want.data(), a.data(), b.data(), count, type, op, divideBy);
  // offset 1: all three pointers one element off; offset 2: only b, so one misaligned operand
  // must turn the vector path off on its own.
  size_t shift = offset == 1 ? es : 0;
  size_t shiftB = offset != 0 ? es : 0;
  auto* da = static_cast<char*>(braid::test::gpuAlloc(bytes + es, stream)) + shift;
  auto* db = static_cast<char*>(braid::test::gpuAlloc(bytes + es, stream)) + shiftB;
  auto* dout = inPlace ? da : static_cast<char*>(braid::test::gpuAlloc(bytes + es, stream)) + shift;
  braid::test::gpuUpload(da, a.data(), bytes, stream);
  braid::test::gpuUpload(db, b.data(), bytes, stream);
  GPU_CHECK(static_cast<cudaError_t>(
      braid::cuda::reduce(dout, da, db, count, type, op, divideBy, stream)));
  GPU_CHECK(cudaStreamSynchronize(stream));
  braid::test::gpuDownload(got.data(), dout, bytes, stream);
  compare(inPlace ? "reduce in place" : "reduce", type, op, divideBy, count, offset, want, got);
  braid::test::gpuFree(da - shift, stream);
  braid::test::gpuFree(db - shiftB, stream);
  if (!inPlace) braid::test::gpuFree(dout - shift, stream);
}

void checkCopy(size_t bytes, size_t offset, std::mt19937_64& rng, cudaStream_t stream) {
  std::vector<unsigned char> in(bytes), got(bytes);
  for (auto& x : in)
    x = static_cast<unsigned char>(rng());
  auto* din = static_cast<char*>(braid::test::gpuAlloc(bytes + offset, stream)) + offset;
  auto* dout = static_cast<char*>(braid::test::gpuAlloc(bytes + offset, stream)) + offset;
  braid::test::gpuUpload(din, in.data(), bytes, stream);
  GPU_CHECK(static_cast<cudaError_t>(braid::cuda::copy(dout, din, bytes, stream)));
  GPU_CHECK(cudaStreamSynchronize(stream));
  braid::test::gpuDownload(got.data(), dout, bytes, stream);
  if (in != got) {
    fprintf(stderr, "FAIL copy bytes=%zu offset=%zu\n", bytes, offset);
    ++failures;
  }
  braid::test::gpuFree(din - offset, stream);
  braid::test::gpuFree(dout - offset, stream);
}

}  // namespace

int main() {
  braid::test::skipWithoutGpu("gpu_kernels_test");
  cudaStream_t stream;
  GPU_CHECK(cudaStreamCreate(&stream));
  std::mt19937_64 rng(20261125);
  const size_t sizes[] = {0, 1, 7, 15, 16, 17, 33, 1023, 4099, (size_t{1} << 20) + 3};
  int cases = 0;
  for (int t = 0; t < braidNumTypes; ++t) {
    for (int o = 0; o < braidNumOps; ++o) {
      for (int divideBy : {1, 3, 128, 256, 1000}) {
        for (size_t count : sizes) {
          for (size_t offset : {0, 1, 2}) {
            for (bool inPlace : {false, true}) {
              checkReduce(static_cast<braidDataType_t>(t), static_cast<braidRedOp_t>(o), divideBy,
                          count, offset, inPlace, rng, stream);
              ++cases;
            }
          }
        }
      }
    }
  }
  for (size_t bytes :
       {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{4097}, size_t{1} << 22}) {
    for (size_t offset : {0, 1, 8}) {
      checkCopy(bytes, offset, rng, stream);
      ++cases;
    }
  }
  GPU_CHECK(cudaStreamDestroy(stream));
  printf("gpu_kernels_test: %d cases, %d failures\n", cases, failures);
  return failures == 0 ? 0 : 1;
}
