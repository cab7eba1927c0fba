// reduce.cc: the CPU reduction kernels behind reduce.h.
//
// Layout: element combiners (Sum, Prod, Max, Min) wrapped in a Step that optionally divides; loops
// over __restrict__ pointers that the compiler vectorises; and a dispatcher that picks the loop
// once per call from (type, op, divideBy, aliasing). Narrow float types go through float in
// fixed-size blocks so the widen, combine and narrow loops each stay simple enough to vectorise.
#include "reduce/reduce.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "reduce/element_ops.h"
#include "reduce/float_types.h"

namespace braid {

namespace {

// ---- element combiners: Sum, Prod, Max, Min (reduce/element_ops.h) -------------------------

using element_ops::Max;
using element_ops::Min;
using element_ops::Prod;
using element_ops::Sum;

// What a value is divided by. Floats divide in their own type. Integers divide truncating toward
// zero, but x86 has no vector integer division and a scalar one costs tens of cycles, so 8- and
// 32-bit values divide in float and double instead: the quotient of integers that fit the
// significand is never close enough to an integer for the rounded quotient to reach it (the
// distance is at least 1/d, the rounding error at most |v/d| * 2^-24 resp. 2^-53), so the
// truncated float quotient is the exact integer quotient. 64-bit values divide natively.
template <class T>
using Divisor = std::conditional_t<
    std::is_floating_point_v<T>, T,
    std::conditional_t<sizeof(T) == 1, float, std::conditional_t<sizeof(T) == 4, double, int64_t>>>;

// The conversion back to T truncates toward zero; the quotient never exceeds |v|, so it fits.
template <class T>
T divideValue(T v, Divisor<T> d) {
  if constexpr (std::is_same_v<T, uint64_t>) {
    return v / uint64_t(d);
  } else {
    return T(Divisor<T>(v) / d);
  }
}

template <class Op, bool kDivide, class T>
struct Step {
  Divisor<T> divisor;
  T operator()(T a, T b) const {
    T r = Op::apply(a, b);
    if constexpr (kDivide) r = divideValue(r, divisor);
    return r;
  }
};

// ---- loops over native types -----------------------------------------------------------------

// Every loop below runs in chunks of kChunk elements with a fixed-length inner loop, then a scalar
// tail. GCC at -O2 only vectorises loops that need no scalar epilogue (its "very cheap" cost
// model), which the fixed inner loop satisfies since kChunk is a multiple of every vector width.
// kChunk is also long enough that GCC at -O3 does not unroll the inner loop completely, which
// would leave straight-line code it then fails to vectorise for the bigger bodies. Clang
// vectorises either way. (A helper taking the body as a lambda would lose __restrict__ and with
// it the vectorisation, hence the repetition.)
constexpr size_t kChunk = 64;

// __restrict__ lets the compiler vectorise without runtime overlap checks. It is only true when
// the buffers really are distinct, so each aliasing case gets its own loop with one pointer fewer.
template <class T, class F>
void combineDistinct(T* __restrict__ out, const T* __restrict__ a, const T* __restrict__ b,
                     size_t n, F f) {
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      out[j] = f(a[j], b[j]);
  }
  for (; i < n; ++i)
    out[i] = f(a[i], b[i]);
}

// inout[i] = f(inout[i], other[i]), or f(other[i], inout[i]) when out was the second operand:
// the float ops are not bit-for-bit symmetric (which NaN, which signed zero), so keep the order.
template <bool kOutIsFirst, class T, class F>
void combineInto(T* __restrict__ inout, const T* __restrict__ other, size_t n, F f) {
  auto one = [f](T x, T y) { return kOutIsFirst ? f(x, y) : f(y, x); };
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      inout[j] = one(inout[j], other[j]);
  }
  for (; i < n; ++i)
    inout[i] = one(inout[i], other[i]);
}

template <class T, class F>
void combineSelf(T* __restrict__ inout, size_t n, F f) {
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      inout[j] = f(inout[j], inout[j]);
  }
  for (; i < n; ++i)
    inout[i] = f(inout[i], inout[i]);
}

template <class T, class F>
void combineNative(T* out, const T* a, const T* b, size_t n, F f) {
  if (out == a && out == b) {
    combineSelf(out, n, f);
  } else if (out == a) {
    combineInto<true>(out, b, n, f);
  } else if (out == b) {
    combineInto<false>(out, a, n, f);
  } else {
    combineDistinct(out, a, b, n, f);
  }
}

template <class T>
void divideInPlace(T* __restrict__ inout, size_t n, Divisor<T> d) {
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      inout[j] = divideValue(inout[j], d);
  }
  for (; i < n; ++i)
    inout[i] = divideValue(inout[i], d);
}

template <class T>
void divideDistinct(T* __restrict__ out, const T* __restrict__ in, size_t n, Divisor<T> d) {
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      out[j] = divideValue(in[j], d);
  }
  for (; i < n; ++i)
    out[i] = divideValue(in[i], d);
}

template <class T>
void divideNative(T* out, const T* in, size_t n, Divisor<T> d) {
  if (out == in) {
    divideInPlace(out, n, d);
  } else {
    divideDistinct(out, in, n, d);
  }
}

// ---- loops over narrow float types -----------------------------------------------------------

struct HalfCodec {
  using Storage = uint16_t;
  static float widen(uint16_t v) { return halfToFloat(v); }
  static uint16_t narrow(float f) { return floatToHalf(f); }
};
struct Bf16Codec {
  using Storage = uint16_t;
  static float widen(uint16_t v) { return bf16ToFloat(v); }
  static uint16_t narrow(float f) { return floatToBf16(f); }
};
struct E4m3Codec {
  using Storage = uint8_t;
  static float widen(uint8_t v) { return e4m3ToFloat(v); }
  static uint8_t narrow(float f) { return floatToE4m3(f); }
};
struct E5m2Codec {
  using Storage = uint8_t;
  static float widen(uint8_t v) { return e5m2ToFloat(v); }
  static uint8_t narrow(float f) { return floatToE5m2(f); }
};

// Elements per block: the float scratch arrays (1 KiB each) stay in L1, and the block is long
// enough that the per-block overhead vanishes.
constexpr size_t kNarrowBlock = 256;

template <class Codec>
void widenBlock(float* __restrict__ dst, const typename Codec::Storage* __restrict__ src,
                size_t n) {
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      dst[j] = Codec::widen(src[j]);
  }
  for (; i < n; ++i)
    dst[i] = Codec::widen(src[i]);
}

template <class Codec>
void narrowBlock(typename Codec::Storage* __restrict__ dst, const float* __restrict__ src,
                 size_t n) {
  size_t i = 0;
  for (; i + kChunk <= n; i += kChunk) {
    for (size_t j = i; j < i + kChunk; ++j)
      dst[j] = Codec::narrow(src[j]);
  }
  for (; i < n; ++i)
    dst[i] = Codec::narrow(src[i]);
}

// Each block of a and b is read in full before the block of out is written, which is what makes
// out == a or out == b safe here.
template <class Codec, class F>
void combineNarrow(typename Codec::Storage* out, const typename Codec::Storage* a,
                   const typename Codec::Storage* b, size_t n, F f) {
  float wa[kNarrowBlock];
  float wb[kNarrowBlock];
  for (size_t base = 0; base < n; base += kNarrowBlock) {
    const size_t m = std::min(kNarrowBlock, n - base);
    widenBlock<Codec>(wa, a + base, m);
    widenBlock<Codec>(wb, b + base, m);
    combineInto<true>(wa, wb, m, f);
    narrowBlock<Codec>(out + base, wa, m);
  }
}

template <class Codec>
void divideNarrow(typename Codec::Storage* out, const typename Codec::Storage* in, size_t n,
                  float d) {
  float w[kNarrowBlock];
  for (size_t base = 0; base < n; base += kNarrowBlock) {
    const size_t m = std::min(kNarrowBlock, n - base);
    widenBlock<Codec>(w, in + base, m);
    divideInPlace(w, m, d);
    narrowBlock<Codec>(out + base, w, m);
  }
}

// ---- dispatch ---------------------------------------------------------------------------------

[[noreturn]] void throwInvalidType(braidDataType_t type) {
  throw std::invalid_argument("invalid data type " + std::to_string(int(type)));
}

// Calls run(step) with the Step for (op, divideBy); T is the type the step computes in.
template <class T, class Run>
void withStep(braidRedOp_t op, int divideBy, Run&& run) {
  auto go = [&]<class Op>() {
    if (divideBy > 1) {
      run(Step<Op, true, T>{Divisor<T>(divideBy)});
    } else {
      run(Step<Op, false, T>{Divisor<T>(1)});
    }
  };
  switch (op) {
    case braidSum:
    case braidAvg:
      return go.template operator()<Sum>();
    case braidProd:
      return go.template operator()<Prod>();
    case braidMax:
      return go.template operator()<Max>();
    case braidMin:
      return go.template operator()<Min>();
    default:
      throw std::invalid_argument("invalid reduction op " + std::to_string(int(op)));
  }
}

template <class T>
void reduceNative(void* out, const void* a, const void* b, size_t n, braidRedOp_t op,
                  int divideBy) {
  withStep<T>(op, divideBy, [&](auto step) {
    combineNative(static_cast<T*>(out), static_cast<const T*>(a), static_cast<const T*>(b), n,
                  step);
  });
}

template <class Codec>
void reduceNarrow(void* out, const void* a, const void* b, size_t n, braidRedOp_t op,
                  int divideBy) {
  using S = typename Codec::Storage;
  withStep<float>(op, divideBy, [&](auto step) {
    combineNarrow<Codec>(static_cast<S*>(out), static_cast<const S*>(a), static_cast<const S*>(b),
                         n, step);
  });
}

}  // namespace

size_t dataTypeSize(braidDataType_t type) {
  switch (type) {
    case braidInt8:
    case braidUint8:
    case braidFloat8e4m3:
    case braidFloat8e5m2:
      return 1;
    case braidFloat16:
    case braidBfloat16:
      return 2;
    case braidInt32:
    case braidUint32:
    case braidFloat32:
      return 4;
    case braidInt64:
    case braidUint64:
    case braidFloat64:
      return 8;
    default:
      return 0;
  }
}

const char* dataTypeName(braidDataType_t type) {
  static const char* const kNames[braidNumTypes] = {
      "int8",    "uint8",   "int32",   "uint32",   "int64",      "uint64",
      "float16", "float32", "float64", "bfloat16", "float8e4m3", "float8e5m2"};
  return isValidDataType(type) ? kNames[type] : "invalid";
}

const char* dataTypeShortName(braidDataType_t type) {
  static const char* const kNames[braidNumTypes] = {"int8",   "uint8",    "int32",  "uint32",
                                                    "int64",  "uint64",   "half",   "float",
                                                    "double", "bfloat16", "f8e4m3", "f8e5m2"};
  return isValidDataType(type) ? kNames[type] : "invalid";
}

const char* redOpName(braidRedOp_t op) {
  static const char* const kNames[braidNumOps] = {"sum", "prod", "max", "min", "avg"};
  return isValidRedOp(op) ? kNames[op] : "invalid";
}

bool isValidDataType(int type) {
  return type >= 0 && type < braidNumTypes;
}
bool isValidRedOp(int op) {
  return op >= 0 && op < braidNumOps;
}

void reduce(void* out, const void* a, const void* b, size_t count, braidDataType_t type,
            braidRedOp_t op, int divideBy) {
  switch (type) {
    case braidInt8:
      return reduceNative<int8_t>(out, a, b, count, op, divideBy);
    case braidUint8:
      return reduceNative<uint8_t>(out, a, b, count, op, divideBy);
    case braidInt32:
      return reduceNative<int32_t>(out, a, b, count, op, divideBy);
    case braidUint32:
      return reduceNative<uint32_t>(out, a, b, count, op, divideBy);
    case braidInt64:
      return reduceNative<int64_t>(out, a, b, count, op, divideBy);
    case braidUint64:
      return reduceNative<uint64_t>(out, a, b, count, op, divideBy);
    case braidFloat32:
      return reduceNative<float>(out, a, b, count, op, divideBy);
    case braidFloat64:
      return reduceNative<double>(out, a, b, count, op, divideBy);
    case braidFloat16:
      return reduceNarrow<HalfCodec>(out, a, b, count, op, divideBy);
    case braidBfloat16:
      return reduceNarrow<Bf16Codec>(out, a, b, count, op, divideBy);
    case braidFloat8e4m3:
      return reduceNarrow<E4m3Codec>(out, a, b, count, op, divideBy);
    case braidFloat8e5m2:
      return reduceNarrow<E5m2Codec>(out, a, b, count, op, divideBy);
    default:
      throwInvalidType(type);
  }
}

void divideCopy(void* out, const void* in, size_t count, braidDataType_t type, int divideBy) {
  if (!isValidDataType(type)) throwInvalidType(type);
  if (divideBy < 1) {
    throw std::invalid_argument("divideCopy: divideBy must be >= 1, got " +
                                std::to_string(divideBy));
  }
  if (divideBy == 1) {
    if (out != in && count != 0) std::memmove(out, in, count * dataTypeSize(type));
    return;
  }
  switch (type) {
    case braidInt8:
      return divideNative(static_cast<int8_t*>(out), static_cast<const int8_t*>(in), count,
                          divideBy);
    case braidUint8:
      return divideNative(static_cast<uint8_t*>(out), static_cast<const uint8_t*>(in), count,
                          divideBy);
    case braidInt32:
      return divideNative(static_cast<int32_t*>(out), static_cast<const int32_t*>(in), count,
                          divideBy);
    case braidUint32:
      return divideNative(static_cast<uint32_t*>(out), static_cast<const uint32_t*>(in), count,
                          divideBy);
    case braidInt64:
      return divideNative(static_cast<int64_t*>(out), static_cast<const int64_t*>(in), count,
                          divideBy);
    case braidUint64:
      return divideNative(static_cast<uint64_t*>(out), static_cast<const uint64_t*>(in), count,
                          divideBy);
    case braidFloat32:
      return divideNative(static_cast<float*>(out), static_cast<const float*>(in), count,
                          float(divideBy));
    case braidFloat64:
      return divideNative(static_cast<double*>(out), static_cast<const double*>(in), count,
                          double(divideBy));
    case braidFloat16:
      return divideNarrow<HalfCodec>(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(in),
                                     count, float(divideBy));
    case braidBfloat16:
      return divideNarrow<Bf16Codec>(static_cast<uint16_t*>(out), static_cast<const uint16_t*>(in),
                                     count, float(divideBy));
    case braidFloat8e4m3:
      return divideNarrow<E4m3Codec>(static_cast<uint8_t*>(out), static_cast<const uint8_t*>(in),
                                     count, float(divideBy));
    case braidFloat8e5m2:
      return divideNarrow<E5m2Codec>(static_cast<uint8_t*>(out), static_cast<const uint8_t*>(in),
                                     count, float(divideBy));
    default:
      throwInvalidType(type);
  }
}

}  // namespace braid
