// The CUDA kernels behind kernels.h.
//
// Reductions: one template per (storage codec, op, divide or not). Each thread combines 16 bytes
// at a time (one uint4 load from each input, one store) while the buffers allow it, then a scalar
// tail. Narrow float types widen to float with CUDA's exact conversions and narrow back with
// round-to-nearest-even, adjusted to the CPU kernels' rules (reduce/float_types.h): finite values
// beyond the format saturate, infinities stay infinite where the format has them.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "cuda/kernels.h"
#include "reduce/element_ops.h"

namespace braid::cuda {

namespace {

constexpr int kThreads = 256;
constexpr unsigned kMaxBlocks = 4096;

// ---- codecs: how a stored element widens to the type the op computes in, and back ------------

template <class T>
struct NativeCodec {
  using Storage = T;
  using Compute = T;
  __device__ static T widen(T v) { return v; }
  __device__ static T narrow(T v) { return v; }
};

struct HalfCodec {
  using Storage = uint16_t;
  using Compute = float;
  __device__ static float widen(uint16_t v) { return __half2float(__ushort_as_half(v)); }
  __device__ static uint16_t narrow(float f) {
    uint16_t u = __half_as_ushort(__float2half_rn(f));
    if ((u & 0x7fffu) == 0x7c00u && isfinite(f)) u = static_cast<uint16_t>((u & 0x8000u) | 0x7bffu);
    return u;
  }
};

struct Bf16Codec {
  using Storage = uint16_t;
  using Compute = float;
  __device__ static float widen(uint16_t v) { return __bfloat162float(__ushort_as_bfloat16(v)); }
  __device__ static uint16_t narrow(float f) {
    uint16_t u = __bfloat16_as_ushort(__float2bfloat16_rn(f));
    if ((u & 0x7fffu) == 0x7f80u && isfinite(f)) u = static_cast<uint16_t>((u & 0x8000u) | 0x7f7fu);
    return u;
  }
};

template <__nv_fp8_interpretation_t kFormat>
__device__ float fp8ToFloat(uint8_t v) {
  __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(v), kFormat);
  return __half2float(__half(h));
}

// e4m3fn has no infinities: everything beyond its range, infinities included, saturates.
struct E4m3Codec {
  using Storage = uint8_t;
  using Compute = float;
  __device__ static float widen(uint8_t v) { return fp8ToFloat<__NV_E4M3>(v); }
  __device__ static uint8_t narrow(float f) {
    return static_cast<uint8_t>(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3));
  }
};

// e5m2 keeps infinities; only finite overflow saturates.
struct E5m2Codec {
  using Storage = uint8_t;
  using Compute = float;
  __device__ static float widen(uint8_t v) { return fp8ToFloat<__NV_E5M2>(v); }
  __device__ static uint8_t narrow(float f) {
    if (isinf(f)) return signbit(f) ? 0xfc : 0x7c;
    return static_cast<uint8_t>(__nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E5M2));
  }
};

// ---- ops: the CPU kernels' own (reduce/element_ops.h) -----------------------------------------

using element_ops::Max;
using element_ops::Min;
using element_ops::Prod;
using element_ops::Sum;

// Integers divide truncating toward zero (C++'s /) in 64 bits, so a divisor wider than the type
// stays exact; floats divide in their compute type.
template <class C>
__device__ C divide(C v, int divideBy) {
  if constexpr (std::is_integral_v<C>) {
    using Wide = std::conditional_t<std::is_signed_v<C>, long long, unsigned long long>;
    return static_cast<C>(static_cast<Wide>(v) / static_cast<Wide>(divideBy));
  } else {
    return v / static_cast<C>(divideBy);
  }
}

template <class Codec, class Op, bool kDivide>
__device__ typename Codec::Storage combine(typename Codec::Storage x, typename Codec::Storage y,
                                           int divideBy) {
  using C = typename Codec::Compute;
  C r = Op::apply(Codec::widen(x), Codec::widen(y));
  if constexpr (kDivide) r = divide(r, divideBy);
  return Codec::narrow(r);
}

template <class Codec, class Op, bool kDivide>
__global__ void reduceKernel(typename Codec::Storage* out, const typename Codec::Storage* a,
                             const typename Codec::Storage* b, size_t n, size_t vectors,
                             int divideBy) {
  using S = typename Codec::Storage;
  constexpr int kPer = 16 / sizeof(S);
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (size_t v = first; v < vectors; v += stride) {
    union Pack {
      uint4 raw;
      S elements[kPer];
    };
    Pack x, y;
    x.raw = reinterpret_cast<const uint4*>(a)[v];
    y.raw = reinterpret_cast<const uint4*>(b)[v];
#pragma unroll
    for (int j = 0; j < kPer; ++j)
      x.elements[j] = combine<Codec, Op, kDivide>(x.elements[j], y.elements[j], divideBy);
    reinterpret_cast<uint4*>(out)[v] = x.raw;
  }
  for (size_t i = vectors * kPer + first; i < n; i += stride)
    out[i] = combine<Codec, Op, kDivide>(a[i], b[i], divideBy);
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

unsigned blocksFor(size_t items) {
  size_t blocks = (items + kThreads - 1) / kThreads;
  if (blocks == 0) blocks = 1;
  return blocks > kMaxBlocks ? kMaxBlocks : static_cast<unsigned>(blocks);
}

template <class Codec, class Op, bool kDivide>
int launchReduce(void* out, const void* a, const void* b, size_t n, int divideBy,
                 cudaStream_t stream) {
  using S = typename Codec::Storage;
  constexpr size_t kPer = 16 / sizeof(S);
  const size_t vectors = aligned16(out) && aligned16(a) && aligned16(b) ? n / kPer : 0;
  const size_t items = vectors + (n - vectors * kPer);
  reduceKernel<Codec, Op, kDivide>
      <<<blocksFor(items), kThreads, 0, stream>>>(static_cast<S*>(out), static_cast<const S*>(a),
                                                  static_cast<const S*>(b), n, vectors, divideBy);
  return static_cast<int>(cudaGetLastError());
}

template <class Codec>
int reduceAs(void* out, const void* a, const void* b, size_t n, braidRedOp_t op, int divideBy,
             cudaStream_t s) {
  const bool divide = divideBy > 1;
  switch (op) {
    case braidSum:
    case braidAvg:
      return divide ? launchReduce<Codec, Sum, true>(out, a, b, n, divideBy, s)
                    : launchReduce<Codec, Sum, false>(out, a, b, n, divideBy, s);
    case braidProd:
      return divide ? launchReduce<Codec, Prod, true>(out, a, b, n, divideBy, s)
                    : launchReduce<Codec, Prod, false>(out, a, b, n, divideBy, s);
    case braidMax:
      return divide ? launchReduce<Codec, Max, true>(out, a, b, n, divideBy, s)
                    : launchReduce<Codec, Max, false>(out, a, b, n, divideBy, s);
    case braidMin:
      return divide ? launchReduce<Codec, Min, true>(out, a, b, n, divideBy, s)
                    : launchReduce<Codec, Min, false>(out, a, b, n, divideBy, s);
    default:
      return static_cast<int>(cudaErrorInvalidValue);
  }
}

__global__ void copyKernel(uint4* out, const uint4* in, size_t vectors, char* outTail,
                           const char* inTail, size_t tail) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (size_t v = first; v < vectors; v += stride)
    out[v] = in[v];
  for (size_t i = first; i < tail; i += stride)
    outTail[i] = inTail[i];
}

__global__ void waitHostWordKernel(const volatile uint32_t* done, const volatile uint32_t* abort) {
  while (*done == 0 && *abort == 0)
    __nanosleep(500);
}

}  // namespace

int reduce(void* out, const void* a, const void* b, size_t count, braidDataType_t type,
           braidRedOp_t op, int divideBy, void* stream) {
  if (count == 0) return 0;
  auto s = static_cast<cudaStream_t>(stream);
  switch (type) {
    case braidInt8:
      return reduceAs<NativeCodec<int8_t>>(out, a, b, count, op, divideBy, s);
    case braidUint8:
      return reduceAs<NativeCodec<uint8_t>>(out, a, b, count, op, divideBy, s);
    case braidInt32:
      return reduceAs<NativeCodec<int32_t>>(out, a, b, count, op, divideBy, s);
    case braidUint32:
      return reduceAs<NativeCodec<uint32_t>>(out, a, b, count, op, divideBy, s);
    case braidInt64:
      return reduceAs<NativeCodec<int64_t>>(out, a, b, count, op, divideBy, s);
    case braidUint64:
      return reduceAs<NativeCodec<uint64_t>>(out, a, b, count, op, divideBy, s);
    case braidFloat16:
      return reduceAs<HalfCodec>(out, a, b, count, op, divideBy, s);
    case braidFloat32:
      return reduceAs<NativeCodec<float>>(out, a, b, count, op, divideBy, s);
    case braidFloat64:
      return reduceAs<NativeCodec<double>>(out, a, b, count, op, divideBy, s);
    case braidBfloat16:
      return reduceAs<Bf16Codec>(out, a, b, count, op, divideBy, s);
    case braidFloat8e4m3:
      return reduceAs<E4m3Codec>(out, a, b, count, op, divideBy, s);
    case braidFloat8e5m2:
      return reduceAs<E5m2Codec>(out, a, b, count, op, divideBy, s);
    default:
      return static_cast<int>(cudaErrorInvalidValue);
  }
}

int copy(void* out, const void* in, size_t bytes, void* stream) {
  if (bytes == 0) return 0;
  const size_t vectors = aligned16(out) && aligned16(in) ? bytes / 16 : 0;
  const size_t tail = bytes - vectors * 16;
  const size_t items = vectors > tail ? vectors : tail;
  copyKernel<<<blocksFor(items), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<uint4*>(out), static_cast<const uint4*>(in), vectors,
      static_cast<char*>(out) + vectors * 16, static_cast<const char*>(in) + vectors * 16, tail);
  return static_cast<int>(cudaGetLastError());
}

int waitHostWord(const volatile uint32_t* done, const volatile uint32_t* abort, void* stream) {
  waitHostWordKernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(done, abort);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace braid::cuda
