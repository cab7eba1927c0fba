// values.cc: the element types the benchmarks run on, and the data they check with.
//
// Checking needs no reference implementation: every input is a small integer, chosen so that the
// exact result of the collective, and every partial result a reduction can build on the way (Braid
// rounds half, bfloat16 and fp8 back to the element type after each step), is representable in the
// element type. The expected output is then computed exactly in int64 and compared element by
// element. C++20 has no half, bfloat16 or fp8 types, so they are encoded and decoded here with a
// small round-to-nearest-even helper.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "harness.h"

namespace braid::bench {
namespace {

constexpr int64_t kVariety = 64;  // largest magnitude of data that is only moved or compared

constexpr std::array<TypeInfo, braidNumTypes> kTypes = {{
    {braidInt8, "int8", 1, Kind::kSigned, 0, 0, false, 64, 6},
    {braidUint8, "uint8", 1, Kind::kUnsigned, 0, 0, false, 64, 7},
    {braidInt32, "int32", 4, Kind::kSigned, 0, 0, false, INT32_MAX, 30},
    {braidUint32, "uint32", 4, Kind::kUnsigned, 0, 0, false, UINT32_MAX, 31},
    {braidInt64, "int64", 8, Kind::kSigned, 0, 0, false, int64_t{1} << 62, 61},
    {braidUint64, "uint64", 8, Kind::kUnsigned, 0, 0, false, int64_t{1} << 62, 62},
    {braidFloat16, "half", 2, Kind::kFloat, 5, 10, false, 2048, 15},
    {braidFloat32, "float", 4, Kind::kFloat, 8, 23, false, int64_t{1} << 24, 30},
    {braidFloat64, "double", 8, Kind::kFloat, 11, 52, false, int64_t{1} << 53, 30},
    {braidBfloat16, "bfloat16", 2, Kind::kFloat, 8, 7, false, 256, 30},
    {braidFloat8e4m3, "f8e4m3", 1, Kind::kFloat, 4, 3, true, 16, 8},
    {braidFloat8e5m2, "f8e5m2", 1, Kind::kFloat, 5, 2, false, 8, 15},
}};

constexpr bool typesInEnumOrder() {
  for (size_t i = 0; i < kTypes.size(); ++i) {
    if (static_cast<size_t>(kTypes[i].type) != i) return false;
  }
  return true;
}
static_assert(typesInEnumOrder(), "kTypes must follow braidDataType_t");

constexpr std::array<OpInfo, braidNumOps> kOps = {{
    {braidSum, "sum"},
    {braidProd, "prod"},
    {braidMax, "max"},
    {braidMin, "min"},
    {braidAvg, "avg"},
}};

// splitmix64's finaliser: neighbouring indices and ranks get unrelated values, so data that lands
// in the wrong block or on the wrong rank does not match by accident.
uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

int exponentBias(int exponentBits) {
  return (1 << (exponentBits - 1)) - 1;
}

// Encodes x in a binary float format with the given field widths, rounding to nearest even and
// saturating out-of-range values to the largest finite value, as Braid does.
uint32_t encodeSmallFloat(double x, int exponentBits, int mantissaBits, bool finiteOnly) {
  const uint32_t signBit = 1u << (exponentBits + mantissaBits);
  const uint32_t sign = std::signbit(x) ? signBit : 0;
  const uint32_t topField = (1u << exponentBits) - 1;
  const uint32_t implicitOne = 1u << mantissaBits;
  if (std::isnan(x)) return finiteOnly ? (signBit - 1) : ((topField << mantissaBits) | 1);
  // fp8 e4m3 keeps the top exponent for numbers but gives its last mantissa code to NaN.
  const uint32_t maxFinite = finiteOnly ? ((topField << mantissaBits) | (implicitOne - 2))
                                        : ((topField - 1) << mantissaBits) | (implicitOne - 1);
  const double magnitude = std::fabs(x);
  if (magnitude == 0) return sign;
  if (std::isinf(magnitude)) return sign | maxFinite;

  const int bias = exponentBias(exponentBits);
  int exponent = 0;
  std::frexp(magnitude, &exponent);
  exponent -= 1;  // magnitude is in [2^exponent, 2^(exponent + 1))
  const bool subnormal = exponent < 1 - bias;
  const int quantumExponent = (subnormal ? 1 - bias : exponent) - mantissaBits;
  // Scaling by a power of two is exact; nearbyint rounds ties to even in the default mode.
  auto steps = static_cast<uint64_t>(std::nearbyint(std::ldexp(magnitude, -quantumExponent)));
  uint64_t bits = 0;
  if (subnormal) {
    bits = steps;  // rounding up to 2^mantissaBits lands exactly on the smallest normal
  } else {
    int field = exponent + bias;
    if (steps == 2ull * implicitOne) {
      steps = implicitOne;
      ++field;
    }
    bits = (static_cast<uint64_t>(field) << mantissaBits) | (steps - implicitOne);
  }
  if (bits > maxFinite) bits = maxFinite;
  return sign | static_cast<uint32_t>(bits);
}

double decodeSmallFloat(uint32_t bits, int exponentBits, int mantissaBits, bool finiteOnly) {
  const uint32_t topField = (1u << exponentBits) - 1;
  const uint32_t mantissaMask = (1u << mantissaBits) - 1;
  const bool negative = (bits >> (exponentBits + mantissaBits)) & 1;
  const uint32_t field = (bits >> mantissaBits) & topField;
  const uint32_t mantissa = bits & mantissaMask;
  const int bias = exponentBias(exponentBits);
  double value = 0;
  if (field == topField && !finiteOnly) {
    value = mantissa ? NAN : INFINITY;
  } else if (field == topField && finiteOnly && mantissa == mantissaMask) {
    value = NAN;
  } else if (field == 0) {
    value = std::ldexp(static_cast<double>(mantissa), 1 - bias - mantissaBits);
  } else {
    value = std::ldexp(static_cast<double>(mantissa | (mantissaMask + 1)),
                       static_cast<int>(field) - bias - mantissaBits);
  }
  return negative ? -value : value;
}

template <typename T>
T loadAs(const void* base, size_t index) {
  T value;
  std::memcpy(&value, static_cast<const std::byte*>(base) + index * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
void storeAs(void* base, size_t index, T value) {
  std::memcpy(static_cast<std::byte*>(base) + index * sizeof(T), &value, sizeof(T));
}

bool isSmallFloat(const TypeInfo& type) {
  return type.kind == Kind::kFloat && type.size <= 2;
}

int64_t loadInteger(const TypeInfo& type, const void* base, size_t index) {
  switch (type.type) {
    case braidInt8:
      return loadAs<int8_t>(base, index);
    case braidUint8:
      return loadAs<uint8_t>(base, index);
    case braidInt32:
      return loadAs<int32_t>(base, index);
    case braidUint32:
      return loadAs<uint32_t>(base, index);
    case braidInt64:
      return loadAs<int64_t>(base, index);
    case braidUint64:
      return static_cast<int64_t>(loadAs<uint64_t>(base, index));
    default:
      return 0;
  }
}

// The integer type's own view of v (modulo 2^bits), widened back to int64 as loadInteger does.
int64_t wrapToType(const TypeInfo& type, int64_t v) {
  switch (type.type) {
    case braidInt8:
      return static_cast<int8_t>(v);
    case braidUint8:
      return static_cast<uint8_t>(v);
    case braidInt32:
      return static_cast<int32_t>(v);
    case braidUint32:
      return static_cast<uint32_t>(v);
    default:
      return v;
  }
}

double loadFloat(const TypeInfo& type, const void* base, size_t index) {
  if (type.type == braidFloat32) return loadAs<float>(base, index);
  if (type.type == braidFloat64) return loadAs<double>(base, index);
  const uint32_t bits =
      type.size == 1 ? loadAs<uint8_t>(base, index) : loadAs<uint16_t>(base, index);
  return decodeSmallFloat(bits, type.exponentBits, type.mantissaBits, type.finiteOnly);
}

}  // namespace

std::span<const TypeInfo> allTypes() {
  return kTypes;
}

const TypeInfo* findType(std::string_view name) {
  for (const TypeInfo& type : kTypes) {
    if (name == type.name) return &type;
  }
  return nullptr;
}

std::span<const OpInfo> allOps() {
  return kOps;
}

const OpInfo* findOp(std::string_view name) {
  for (const OpInfo& op : kOps) {
    if (name == op.name) return &op;
  }
  return nullptr;
}

size_t perRankCount(size_t count, size_t eltSize, int nranks) {
  const size_t group = std::max<size_t>(16 / eltSize, 1);
  return count / static_cast<size_t>(nranks) / group * group;
}

Pattern makePattern(const TypeInfo& type, braidRedOp_t op, bool reduces, int nranks,
                    uint64_t seed) {
  Pattern::Shape shape;
  shape.window = nranks;
  int64_t magnitude = std::min(kVariety, type.resultLimit);
  if (reduces && op == braidProd) {
    // Products of 1s and at most prodTwos 2s are powers of two within the exact range.
    shape.twos = true;
    shape.window = static_cast<int>(std::min<int64_t>(nranks, type.prodTwos));
    shape.lo = 1;
    shape.hi = 2;
    return Pattern(shape, op, nranks, seed);
  }
  if (reduces && (op == braidSum || op == braidAvg)) {
    // window * magnitude bounds every partial sum; past resultLimit ranks, some ranks hold 0s.
    shape.window = static_cast<int>(std::min<int64_t>(nranks, type.resultLimit));
    magnitude = std::min(magnitude, type.resultLimit / shape.window);
  }
  shape.hi = magnitude;
  shape.lo = type.kind == Kind::kUnsigned ? 0 : -magnitude;
  return Pattern(shape, op, nranks, seed);
}

Pattern::Pattern(const Shape& shape, braidRedOp_t op, int nranks, uint64_t seed)
    : shape_(shape), op_(op), nranks_(nranks), seed_(seed) {}

int64_t Pattern::input(int rank, size_t index) const {
  const auto n = static_cast<size_t>(nranks_);
  // Rank r is in the window at `index` when (index + r) mod n < window: exactly `window` ranks.
  if ((index % n + static_cast<size_t>(rank)) % n >= static_cast<size_t>(shape_.window)) {
    return shape_.twos ? 1 : 0;
  }
  const uint64_t h =
      mix(index * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(rank) * 0xd1b54a32d192ed03ull +
          seed_ * 0xa0761d6478bd642full);
  if (shape_.twos) return h % 3 == 0 ? 1 : 2;
  return shape_.lo + static_cast<int64_t>(h % static_cast<uint64_t>(shape_.hi - shape_.lo + 1));
}

int64_t Pattern::reduced(size_t index) const {
  // Ranks outside the window hold the op's identity (0 for sum/avg, 1 for prod; max and min use a
  // full window), so only the window's ranks need visiting.
  const auto n = static_cast<size_t>(nranks_);
  const size_t first = (n - index % n) % n;
  int64_t result = 0;
  for (int w = 0; w < shape_.window; ++w) {
    const int rank = static_cast<int>((first + static_cast<size_t>(w)) % n);
    const int64_t value = input(rank, index);
    if (w == 0) {
      result = value;
      continue;
    }
    switch (op_) {
      case braidProd:
        result *= value;
        break;
      case braidMax:
        result = std::max(result, value);
        break;
      case braidMin:
        result = std::min(result, value);
        break;
      default:
        result += value;
        break;  // sum, avg
    }
  }
  return result;
}

void storeElement(const TypeInfo& type, void* base, size_t index, int64_t value) {
  if (isSmallFloat(type)) {
    const uint32_t bits = encodeSmallFloat(static_cast<double>(value), type.exponentBits,
                                           type.mantissaBits, type.finiteOnly);
    if (type.size == 1) {
      storeAs<uint8_t>(base, index, static_cast<uint8_t>(bits));
    } else {
      storeAs<uint16_t>(base, index, static_cast<uint16_t>(bits));
    }
    return;
  }
  switch (type.type) {
    case braidInt8:
      storeAs<int8_t>(base, index, static_cast<int8_t>(value));
      break;
    case braidUint8:
      storeAs<uint8_t>(base, index, static_cast<uint8_t>(value));
      break;
    case braidInt32:
      storeAs<int32_t>(base, index, static_cast<int32_t>(value));
      break;
    case braidUint32:
      storeAs<uint32_t>(base, index, static_cast<uint32_t>(value));
      break;
    case braidInt64:
      storeAs<int64_t>(base, index, value);
      break;
    case braidUint64:
      storeAs<uint64_t>(base, index, static_cast<uint64_t>(value));
      break;
    case braidFloat32:
      storeAs<float>(base, index, static_cast<float>(value));
      break;
    case braidFloat64:
      storeAs<double>(base, index, static_cast<double>(value));
      break;
    default:
      break;
  }
}

bool elementMatches(const TypeInfo& type, const void* base, size_t index, int64_t want,
                    bool average, int nranks) {
  if (type.kind != Kind::kFloat) {
    // Braid's integer avg truncates toward zero, as int64 division does.
    const int64_t target = average ? want / nranks : want;
    return loadInteger(type, base, index) == wrapToType(type, target);
  }
  const double got = loadFloat(type, base, index);
  if (!average) return got == static_cast<double>(want);
  // The division by the rank count may round (once in float32, again to the element type):
  // allow one unit in the last place of the element type, or its smallest subnormal.
  const double exact = static_cast<double>(want) / nranks;
  const double tolerance =
      std::max(std::fabs(exact) * std::ldexp(1.0, -type.mantissaBits),
               std::ldexp(1.0, 1 - exponentBias(type.exponentBits) - type.mantissaBits));
  return std::fabs(got - exact) <= tolerance;
}

}  // namespace braid::bench
