// reduce_test.cc: checks the CPU reduction kernels (reduce.h) and the narrow float conversions
// (float_types.h) against references the test builds for itself: exact integer arithmetic, double
// arithmetic, and a model of each narrow format decoded from first principles with ldexp and
// rounded by searching its table of values. The library's own conversions are never used to make
// an expected value, so a bug cannot agree with itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "reduce/float_types.h"
#include "reduce/reduce.h"

namespace braid {
namespace {

constexpr uint64_t kBaseSeed = 0x5eed0b7a1dULL;

// ---- an independent model of the narrow float formats ------------------------------------------

struct FormatSpec {
  const char* name;
  int bits, expBits, manBits, bias;
  bool ieeeSpecials;  // all-ones exponent = inf/NaN (false: e4m3fn, only S.1111.111 is NaN)
};

constexpr FormatSpec kHalfSpec{"float16", 16, 5, 10, 15, true};
constexpr FormatSpec kBf16Spec{"bfloat16", 16, 8, 7, 127, true};
constexpr FormatSpec kE4m3Spec{"float8e4m3", 8, 4, 3, 7, false};
constexpr FormatSpec kE5m2Spec{"float8e5m2", 8, 5, 2, 15, true};

class NarrowModel {
 public:
  explicit NarrowModel(const FormatSpec& spec) : spec_(spec) {
    const uint32_t signBit = 1u << (spec.bits - 1);
    for (uint32_t code = 0; code < signBit; ++code) {
      const double v = decode(code);
      if (std::isnan(v)) continue;
      if (std::isinf(v)) {
        infCode_ = code;
        continue;
      }
      positive_.push_back({v, code});
    }
    std::sort(positive_.begin(), positive_.end());
    maxFinite_ = positive_.back();
    for (const auto& [v, code] : positive_) {
      ordered_.push_back(v);
      if (v != 0) ordered_.push_back(-v);
    }
    if (spec.ieeeSpecials) {
      ordered_.push_back(INFINITY);
      ordered_.push_back(-INFINITY);
    }
    std::sort(ordered_.begin(), ordered_.end());
  }

  const FormatSpec& spec() const { return spec_; }
  uint32_t codeCount() const { return 1u << spec_.bits; }
  uint32_t signBit() const { return 1u << (spec_.bits - 1); }
  double maxFinite() const { return maxFinite_.first; }
  uint32_t maxFiniteCode() const { return maxFinite_.second; }

  double decode(uint32_t code) const {
    const bool negative = (code >> (spec_.bits - 1)) & 1;
    const uint32_t expAllOnes = (1u << spec_.expBits) - 1;
    const uint32_t manAllOnes = (1u << spec_.manBits) - 1;
    const uint32_t e = (code >> spec_.manBits) & expAllOnes;
    const uint32_t m = code & manAllOnes;
    double v;
    if (spec_.ieeeSpecials && e == expAllOnes) {
      v = m != 0 ? NAN : INFINITY;
    } else if (!spec_.ieeeSpecials && e == expAllOnes && m == manAllOnes) {
      v = NAN;
    } else if (e == 0) {
      v = std::ldexp(double(m), 1 - spec_.bias - spec_.manBits);
    } else {
      v = std::ldexp(double(m | (1u << spec_.manBits)), int(e) - spec_.bias - spec_.manBits);
    }
    return negative ? -v : v;
  }

  // The reference narrowing: nearest value, ties to the even code; finite values beyond the range
  // saturate; infinity stays where the format has it.
  uint32_t encode(double v) const {
    const uint32_t sign = std::signbit(v) ? signBit() : 0;
    const double a = std::fabs(v);
    if (std::isnan(v)) {
      return sign | (spec_.ieeeSpecials ? infCode_ | (1u << (spec_.manBits - 1))
                                        : (1u << (spec_.bits - 1)) - 1);
    }
    if (std::isinf(a) && spec_.ieeeSpecials) return sign | infCode_;
    if (a >= maxFinite()) return sign | maxFiniteCode();
    auto hi = std::lower_bound(positive_.begin(), positive_.end(), std::pair{a, 0u});
    if (hi->first == a) return sign | hi->second;
    auto lo = hi - 1;
    const double below = a - lo->first;
    const double above = hi->first - a;
    if (below < above) return sign | lo->second;
    if (above < below) return sign | hi->second;
    return sign | ((lo->second & 1) == 0 ? lo->second : hi->second);
  }

  // Position of a value among all the format's non-NaN values (-0 and +0 share one), so that
  // neighbouring representable values differ by exactly one.
  long ordinal(double v) const {
    return long(std::lower_bound(ordered_.begin(), ordered_.end(), v) - ordered_.begin());
  }

 private:
  FormatSpec spec_;
  std::vector<std::pair<double, uint32_t>> positive_;  // finite non-negative values, ascending
  std::pair<double, uint32_t> maxFinite_;
  uint32_t infCode_ = 0;
  std::vector<double> ordered_;
};

const NarrowModel& halfModel() {
  static const NarrowModel model(kHalfSpec);
  return model;
}
const NarrowModel& bf16Model() {
  static const NarrowModel model(kBf16Spec);
  return model;
}
const NarrowModel& e4m3Model() {
  static const NarrowModel model(kE4m3Spec);
  return model;
}
const NarrowModel& e5m2Model() {
  static const NarrowModel model(kE5m2Spec);
  return model;
}

const NarrowModel* modelFor(braidDataType_t type) {
  switch (type) {
    case braidFloat16:
      return &halfModel();
    case braidBfloat16:
      return &bf16Model();
    case braidFloat8e4m3:
      return &e4m3Model();
    case braidFloat8e5m2:
      return &e5m2Model();
    default:
      return nullptr;
  }
}

// The library's conversions for a format, under test.
struct LibCodec {
  float (*widen)(uint32_t);
  uint32_t (*narrow)(float);
};

LibCodec libCodecFor(braidDataType_t type) {
  switch (type) {
    case braidFloat16:
      return {[](uint32_t c) { return halfToFloat(uint16_t(c)); },
              [](float f) { return uint32_t(floatToHalf(f)); }};
    case braidBfloat16:
      return {[](uint32_t c) { return bf16ToFloat(uint16_t(c)); },
              [](float f) { return uint32_t(floatToBf16(f)); }};
    case braidFloat8e4m3:
      return {[](uint32_t c) { return e4m3ToFloat(uint8_t(c)); },
              [](float f) { return uint32_t(floatToE4m3(f)); }};
    default:
      return {[](uint32_t c) { return e5m2ToFloat(uint8_t(c)); },
              [](float f) { return uint32_t(floatToE5m2(f)); }};
  }
}

// float narrowing of a double without the UB of converting an out-of-range value.
float toFloatRef(double d) {
  if (std::isnan(d)) return NAN;
  if (std::fabs(d) >= 0x1.ffffffp127) return d > 0 ? INFINITY : -INFINITY;
  return float(d);
}

bool sameValue(double x, double y) {
  return (std::isnan(x) && std::isnan(y)) || x == y;
}

std::string hex(uint64_t v) {
  std::ostringstream s;
  s << "0x" << std::hex << v;
  return s.str();
}

// Floats to probe a narrowing with: every representable value, the midpoints between neighbours
// and the floats either side of each (where rounding decisions flip), beyond the largest finite
// value, specials, and random bit patterns.
std::vector<float> narrowingProbes(const NarrowModel& model, uint64_t seed) {
  std::vector<double> positives;
  for (uint32_t code = 0; code < model.signBit(); ++code) {
    const double v = model.decode(code);
    if (std::isfinite(v)) positives.push_back(v);
  }
  std::sort(positives.begin(), positives.end());
  std::vector<float> probes;
  auto addAround = [&](double v) {
    const float f = toFloatRef(v);  // exact below 2^128: values and midpoints fit in a float
    probes.push_back(f);
    probes.push_back(std::nextafter(f, INFINITY));
    probes.push_back(std::nextafter(f, -INFINITY));
  };
  for (size_t i = 0; i < positives.size(); ++i) {
    addAround(positives[i]);
    if (i + 1 < positives.size()) addAround((positives[i] + positives[i + 1]) / 2);
  }
  const double ulpAtMax = positives.back() - positives[positives.size() - 2];
  addAround(positives.back() + ulpAtMax / 2);
  addAround(positives.back() + ulpAtMax);
  for (float f :
       {FLT_MAX, FLT_MIN, std::numeric_limits<float>::denorm_min(), 1e30f, 0.0f, float(INFINITY),
        std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::signaling_NaN()}) {
    probes.push_back(f);
  }
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 100000; ++i)
    probes.push_back(std::bit_cast<float>(uint32_t(rng())));
  const size_t unsignedCount = probes.size();  // then the same again with the sign flipped
  for (size_t i = 0; i < unsignedCount; ++i)
    probes.push_back(-probes[i]);
  return probes;
}

// ---- conversions -----------------------------------------------------------------------------

class ConversionTest : public ::testing::TestWithParam<braidDataType_t> {};

TEST_P(ConversionTest, WideningMatchesModelForEveryCode) {
  const NarrowModel& model = *modelFor(GetParam());
  const LibCodec lib = libCodecFor(GetParam());
  for (uint32_t code = 0; code < model.codeCount(); ++code) {
    const double want = model.decode(code);
    const float got = lib.widen(code);
    ASSERT_TRUE(sameValue(got, want)) << "code " << hex(code) << " got " << got << " want " << want;
    if (!std::isnan(want)) {
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << hex(code);
    }
  }
}

TEST_P(ConversionTest, EveryCodeRoundTrips) {
  const NarrowModel& model = *modelFor(GetParam());
  const LibCodec lib = libCodecFor(GetParam());
  for (uint32_t code = 0; code < model.codeCount(); ++code) {
    const uint32_t back = lib.narrow(lib.widen(code));
    if (std::isnan(model.decode(code))) {
      ASSERT_TRUE(std::isnan(model.decode(back)))
          << "NaN " << hex(code) << " came back " << hex(back);
      ASSERT_EQ(back & model.signBit(), code & model.signBit()) << "NaN sign, code " << hex(code);
    } else {
      ASSERT_EQ(back, code);
    }
  }
}

TEST_P(ConversionTest, NarrowingMatchesModel) {
  const NarrowModel& model = *modelFor(GetParam());
  const LibCodec lib = libCodecFor(GetParam());
  const uint64_t seed = kBaseSeed + uint64_t(GetParam());
  SCOPED_TRACE("seed " + std::to_string(seed));
  int failures = 0;
  for (float f : narrowingProbes(model, seed)) {
    const uint32_t got = lib.narrow(f);
    const uint32_t want = model.encode(f);
    const bool ok = std::isnan(f) ? std::isnan(model.decode(got)) &&
                                        (got & model.signBit()) == (want & model.signBit())
                                  : got == want;
    if (!ok) {
      ADD_FAILURE() << "float " << hex(std::bit_cast<uint32_t>(f)) << " (" << f << "): got "
                    << hex(got) << " want " << hex(want);
      if (++failures == 10) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(NarrowFormats, ConversionTest,
                         ::testing::Values(braidFloat16, braidBfloat16, braidFloat8e4m3,
                                           braidFloat8e5m2),
                         [](const auto& info) { return std::string(dataTypeName(info.param)); });

#if defined(__FLT16_MAX__)
// The compiler's own binary16 (IEEE, round to nearest even) as a second opinion. It overflows to
// infinity where Braid saturates, so only the in-range floats are compared directly.
TEST(HalfConversionTest, AgreesWithCompilerFloat16) {
  for (uint32_t code = 0; code < 65536; ++code) {
    const _Float16 h = std::bit_cast<_Float16>(uint16_t(code));
    const float want = float(h);
    const float got = halfToFloat(uint16_t(code));
    ASSERT_TRUE(sameValue(got, want)) << hex(code);
    if (!std::isnan(want)) {
      ASSERT_EQ(std::signbit(got), std::signbit(want)) << hex(code);
    }
  }
  for (float f : narrowingProbes(halfModel(), kBaseSeed)) {
    const uint16_t got = floatToHalf(f);
    if (std::isnan(f)) {
      ASSERT_EQ(got & 0x7c00, 0x7c00);
      ASSERT_NE(got & 0x03ff, 0);
    } else if (std::isinf(f) || std::fabs(f) < 65520.0f) {
      ASSERT_EQ(got, std::bit_cast<uint16_t>(_Float16(f))) << f;
    } else {
      ASSERT_EQ(got, f > 0 ? 0x7bff : 0xfbff) << f;  // saturation, where _Float16 gives inf
    }
  }
}
#endif

TEST(NarrowingTest, MidpointsRoundToEven) {
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f), 0x3c00);      // halfway to 0x3c01: down to even
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f), 0x3c02);  // halfway 0x3c01..0x3c02: up to even
  EXPECT_EQ(floatToHalf(-(1.0f + 3 * 0x1p-11f)), 0xbc02);
  EXPECT_EQ(floatToBf16(1.0f + 0x1p-8f), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 3 * 0x1p-8f), 0x3f82);
  EXPECT_EQ(floatToE4m3(1.0625f), 0x38);  // 1 + 2^-4 between 1 (0x38) and 1.125 (0x39)
  EXPECT_EQ(floatToE4m3(1.1875f), 0x3a);  // between 1.125 and 1.25
  EXPECT_EQ(floatToE5m2(1.125f), 0x3c);   // between 1 (0x3c) and 1.25 (0x3d)
  EXPECT_EQ(floatToE5m2(1.375f), 0x3e);   // between 1.25 and 1.5
  // Rounding up across a binade boundary carries into the exponent.
  EXPECT_EQ(floatToHalf(2.0f - 0x1p-12f), 0x4000);
  EXPECT_EQ(floatToE4m3(1.9375f), 0x40);
}

TEST(NarrowingTest, SubnormalsRoundCorrectly) {
  EXPECT_EQ(floatToHalf(0x1p-24f), 0x0001);
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);  // tie with zero: to even
  EXPECT_EQ(floatToHalf(0x1.000002p-25f), 0x0001);
  EXPECT_EQ(floatToHalf(0x3p-25f), 0x0002);      // 1.5 steps: tie, to even
  EXPECT_EQ(floatToHalf(0x1.ffcp-15f), 0x0400);  // tie, to even: the smallest normal
  EXPECT_EQ(floatToHalf(-0x1p-24f), 0x8001);
  EXPECT_EQ(floatToHalf(-1e-30f), 0x8000);  // underflow keeps the sign
  EXPECT_EQ(halfToFloat(0x03ff), 0x3ffp-24f);
  EXPECT_EQ(floatToE4m3(0x1p-9f), 0x01);
  EXPECT_EQ(floatToE4m3(0x1p-10f), 0x00);
  EXPECT_EQ(e4m3ToFloat(0x07), 0x7p-9f);
  EXPECT_EQ(floatToE5m2(0x1p-16f), 0x01);
  EXPECT_EQ(floatToE5m2(0x3p-17f), 0x02);
  EXPECT_EQ(floatToBf16(std::bit_cast<float>(0x00008000u)), 0x0000);  // tie, to even
  EXPECT_EQ(floatToBf16(std::bit_cast<float>(0x00018000u)), 0x0002);  // tie, to even
  EXPECT_EQ(floatToBf16(std::bit_cast<float>(0x00010001u)), 0x0001);
  EXPECT_EQ(bf16ToFloat(0x0001), std::bit_cast<float>(0x00010000u));
}

TEST(NarrowingTest, FiniteOverflowSaturatesInfinityStays) {
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7bff);  // IEEE would give inf here
  EXPECT_EQ(floatToHalf(1e10f), 0x7bff);
  EXPECT_EQ(floatToHalf(-FLT_MAX), 0xfbff);
  EXPECT_EQ(floatToHalf(INFINITY), 0x7c00);
  EXPECT_EQ(floatToHalf(-INFINITY), 0xfc00);
  EXPECT_EQ(floatToBf16(FLT_MAX), 0x7f7f);
  EXPECT_EQ(floatToBf16(-FLT_MAX), 0xff7f);
  EXPECT_EQ(floatToBf16(INFINITY), 0x7f80);
  EXPECT_EQ(floatToE4m3(448.0f), 0x7e);
  EXPECT_EQ(floatToE4m3(464.0f), 0x7e);
  EXPECT_EQ(floatToE4m3(1e6f), 0x7e);
  EXPECT_EQ(floatToE4m3(INFINITY), 0x7e);  // e4m3fn has no infinity
  EXPECT_EQ(floatToE4m3(-INFINITY), 0xfe);
  EXPECT_EQ(e4m3ToFloat(0x7e), 448.0f);
  EXPECT_EQ(floatToE5m2(57344.0f), 0x7b);
  EXPECT_EQ(floatToE5m2(61440.0f), 0x7b);
  EXPECT_EQ(floatToE5m2(-1e9f), 0xfb);
  EXPECT_EQ(floatToE5m2(INFINITY), 0x7c);
  EXPECT_EQ(e5m2ToFloat(0xfc), -INFINITY);
}

TEST(NarrowingTest, NanStaysNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(nan))));
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(-nan))));
  EXPECT_EQ(floatToHalf(-nan) & 0x8000, 0x8000);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(nan))));
  EXPECT_EQ(floatToE4m3(nan), 0x7f);
  EXPECT_EQ(floatToE4m3(-nan), 0xff);
  EXPECT_TRUE(std::isnan(e4m3ToFloat(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3ToFloat(0xff)));
  EXPECT_TRUE(std::isnan(e5m2ToFloat(floatToE5m2(nan))));
  // A NaN whose payload lives only in the low bits must not narrow to infinity.
  const float lowPayload = std::bit_cast<float>(0x7f800001u);
  EXPECT_TRUE(std::isnan(halfToFloat(floatToHalf(lowPayload))));
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(lowPayload))));
  EXPECT_TRUE(std::isnan(e5m2ToFloat(floatToE5m2(lowPayload))));
}

// ---- reduction references --------------------------------------------------------------------

// Signed distance in representable steps between two floats of the same kind (-0 == +0).
template <class F>
int64_t ulpDistance(F x, F y) {
  using I = std::conditional_t<sizeof(F) == 4, int32_t, int64_t>;
  auto order = [](F v) {
    const I i = std::bit_cast<I>(v);
    return i < 0 ? -int64_t(i & std::numeric_limits<I>::max()) : int64_t(i);
  };
  const int64_t a = order(x), b = order(y);
  return a > b ? a - b : b - a;
}

double combineRef(braidRedOp_t op, double a, double b) {
  switch (op) {
    case braidSum:
    case braidAvg:
      return a + b;
    case braidProd:
      return a * b;
    case braidMax:
      return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
    default:
      return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
  }
}

// Each check returns an empty string when `got` is right, else what was expected.

template <class T>
std::string checkInteger(braidRedOp_t op, int divideBy, T a, T b, T got) {
  using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  const Wide wa = a, wb = b;
  Wide r;
  switch (op) {
    case braidSum:
    case braidAvg:
      r = Wide(uint64_t(wa) + uint64_t(wb));
      break;
    case braidProd:
      r = Wide(uint64_t(wa) * uint64_t(wb));
      break;
    case braidMax:
      r = std::max(wa, wb);
      break;
    default:
      r = std::min(wa, wb);
      break;
  }
  // Wrap to the element width first, then divide (C++ division truncates toward zero).
  T want = T(r);
  if (divideBy > 1) want = T(Wide(want) / Wide(divideBy));
  if (got == want) return "";
  return "want " + std::to_string(Wide(want)) + " got " + std::to_string(Wide(got)) + " (a " +
         std::to_string(Wide(a)) + ", b " + std::to_string(Wide(b)) + ")";
}

std::string checkFloat32(braidRedOp_t op, int divideBy, float a, float b, float got) {
  // a+b and a*b are exact in double, so this is the correctly rounded float result.
  const float combined = toFloatRef(combineRef(op, a, b));
  bool ok;
  float want = combined;
  if (divideBy <= 1) {
    ok = sameValue(got, combined);
  } else {
    // The kernel divides the float result in float; allow one step for that rounding.
    want = toFloatRef(double(combined) / divideBy);
    ok = std::isnan(want) ? std::isnan(got) : !std::isnan(got) && ulpDistance(got, want) <= 1;
  }
  if (ok) return "";
  std::ostringstream s;
  s.precision(9);
  s << "want " << want << " got " << got << " (a " << a << ", b " << b << ")";
  return s.str();
}

std::string checkFloat64(braidRedOp_t op, int divideBy, double a, double b, double got) {
  const double combined = combineRef(op, a, b);
  bool ok;
  double want = combined;
  if (divideBy <= 1) {
    ok = sameValue(got, combined);
  } else {
    want = double(static_cast<long double>(combined) / divideBy);
    ok = std::isnan(want) ? std::isnan(got) : !std::isnan(got) && ulpDistance(got, want) <= 1;
  }
  if (ok) return "";
  std::ostringstream s;
  s.precision(17);
  s << "want " << want << " got " << got << " (a " << a << ", b " << b << ")";
  return s.str();
}

std::string checkNarrow(const NarrowModel& model, braidRedOp_t op, int divideBy, uint32_t a,
                        uint32_t b, uint32_t got) {
  // Exact in double for every pair of these formats (or correctly rounded where a bfloat16 sum
  // spans more than 53 bits, which the narrowing cannot tell apart). The kernel computes in
  // float, so a result beyond float's range is infinity before it is narrowed: that only
  // happens for bfloat16, which shares float's exponent range.
  double exact = combineRef(op, model.decode(a), model.decode(b));
  if (std::isfinite(exact) && std::isinf(toFloatRef(exact))) exact = toFloatRef(exact);
  const double gotValue = model.decode(got);
  uint32_t want;
  bool ok;
  if (divideBy <= 1) {
    want = model.encode(exact);
    ok = sameValue(gotValue, model.decode(want));
  } else {
    // Two float roundings (combine, divide) precede the narrowing: allow one step.
    want = model.encode(exact / divideBy);
    const double wantValue = model.decode(want);
    ok = std::isnan(wantValue)
             ? std::isnan(gotValue)
             : !std::isnan(gotValue) &&
                   std::abs(model.ordinal(gotValue) - model.ordinal(wantValue)) <= 1;
  }
  if (ok) return "";
  std::ostringstream s;
  s.precision(9);
  s << "want " << hex(want) << " (" << model.decode(want) << ") got " << hex(got) << " ("
    << gotValue << ") (a " << hex(a) << " = " << model.decode(a) << ", b " << hex(b) << " = "
    << model.decode(b) << ")";
  return s.str();
}

template <class T>
T load(const std::vector<uint8_t>& buf, size_t i) {
  T v;
  std::memcpy(&v, buf.data() + i * sizeof(T), sizeof(T));
  return v;
}

std::string checkElement(braidDataType_t type, braidRedOp_t op, int divideBy,
                         const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                         const std::vector<uint8_t>& got, size_t i) {
  switch (type) {
    case braidInt8:
      return checkInteger(op, divideBy, load<int8_t>(a, i), load<int8_t>(b, i),
                          load<int8_t>(got, i));
    case braidUint8:
      return checkInteger(op, divideBy, load<uint8_t>(a, i), load<uint8_t>(b, i),
                          load<uint8_t>(got, i));
    case braidInt32:
      return checkInteger(op, divideBy, load<int32_t>(a, i), load<int32_t>(b, i),
                          load<int32_t>(got, i));
    case braidUint32:
      return checkInteger(op, divideBy, load<uint32_t>(a, i), load<uint32_t>(b, i),
                          load<uint32_t>(got, i));
    case braidInt64:
      return checkInteger(op, divideBy, load<int64_t>(a, i), load<int64_t>(b, i),
                          load<int64_t>(got, i));
    case braidUint64:
      return checkInteger(op, divideBy, load<uint64_t>(a, i), load<uint64_t>(b, i),
                          load<uint64_t>(got, i));
    case braidFloat32:
      return checkFloat32(op, divideBy, load<float>(a, i), load<float>(b, i), load<float>(got, i));
    case braidFloat64:
      return checkFloat64(op, divideBy, load<double>(a, i), load<double>(b, i),
                          load<double>(got, i));
    case braidFloat16:
    case braidBfloat16:
      return checkNarrow(*modelFor(type), op, divideBy, load<uint16_t>(a, i), load<uint16_t>(b, i),
                         load<uint16_t>(got, i));
    default:
      return checkNarrow(*modelFor(type), op, divideBy, load<uint8_t>(a, i), load<uint8_t>(b, i),
                         load<uint8_t>(got, i));
  }
}

// ---- random data -------------------------------------------------------------------------------

template <class T>
void store(std::vector<uint8_t>& buf, size_t i, T v) {
  std::memcpy(buf.data() + i * sizeof(T), &v, sizeof(T));
}

template <class F>
F randomFloat(std::mt19937_64& rng) {
  const int kind = int(rng() % 20);
  if (kind == 0) {
    constexpr F kSpecials[] = {0,
                               -F(0),
                               1,
                               -1,
                               std::numeric_limits<F>::infinity(),
                               -std::numeric_limits<F>::infinity(),
                               std::numeric_limits<F>::quiet_NaN(),
                               std::numeric_limits<F>::max(),
                               std::numeric_limits<F>::lowest(),
                               std::numeric_limits<F>::min(),
                               std::numeric_limits<F>::denorm_min()};
    return kSpecials[rng() % std::size(kSpecials)];
  }
  if (kind < 4) return F(int(rng() % 201) - 100);  // small integers: exact sums and products
  std::uniform_real_distribution<F> mantissa(-1, 1);
  return std::ldexp(mantissa(rng), int(rng() % 61) - 30);
}

// Integers: mostly full-width random bits, with the extremes and small values where wrapping,
// truncation and signs are easiest to get wrong.
template <class T>
T randomInteger(std::mt19937_64& rng) {
  switch (rng() % 8) {
    case 0:
      return std::numeric_limits<T>::min();
    case 1:
      return std::numeric_limits<T>::max();
    case 2:
      return T(int(rng() % 15) - 7);
    default:
      return T(rng());
  }
}

std::vector<uint8_t> randomBuffer(braidDataType_t type, size_t count, std::mt19937_64& rng) {
  std::vector<uint8_t> buf(count * dataTypeSize(type) + 1);  // +1: never a null data()
  for (size_t i = 0; i < count; ++i) {
    switch (type) {
      case braidInt8:
        store(buf, i, randomInteger<int8_t>(rng));
        break;
      case braidUint8:
        store(buf, i, randomInteger<uint8_t>(rng));
        break;
      case braidInt32:
        store(buf, i, randomInteger<int32_t>(rng));
        break;
      case braidUint32:
        store(buf, i, randomInteger<uint32_t>(rng));
        break;
      case braidInt64:
        store(buf, i, randomInteger<int64_t>(rng));
        break;
      case braidUint64:
        store(buf, i, randomInteger<uint64_t>(rng));
        break;
      case braidFloat32:
        store(buf, i, randomFloat<float>(rng));
        break;
      case braidFloat64:
        store(buf, i, randomFloat<double>(rng));
        break;
      case braidFloat16:
      case braidBfloat16:
        store(buf, i, uint16_t(rng()));  // every code, NaN and infinity included
        break;
      default:
        store(buf, i, uint8_t(rng()));
        break;
    }
  }
  return buf;
}

bool isIntegerType(braidDataType_t type) {
  return type == braidInt8 || type == braidUint8 || type == braidInt32 || type == braidUint32 ||
         type == braidInt64 || type == braidUint64;
}

// ---- reduce() over every type x op -------------------------------------------------------------

constexpr size_t kCounts[] = {0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 255, 1023, 4099};

enum class Aliasing { kDistinct, kOutIsA, kOutIsB, kAllSame };
const char* aliasingName(Aliasing m) {
  switch (m) {
    case Aliasing::kDistinct:
      return "distinct";
    case Aliasing::kOutIsA:
      return "out==a";
    case Aliasing::kOutIsB:
      return "out==b";
    default:
      return "out==a==b";
  }
}

class ReduceTest : public ::testing::TestWithParam<std::tuple<braidDataType_t, braidRedOp_t>> {
 protected:
  // Runs one reduce() call and checks every element; false after reporting a failure.
  bool runCase(size_t count, Aliasing aliasing, int divideBy) {
    const auto [type, op] = GetParam();
    const size_t bytes = count * dataTypeSize(type);
    const uint64_t seed = kBaseSeed ^ (uint64_t(type) << 40) ^ (uint64_t(op) << 32) ^
                          (uint64_t(count) << 8) ^ (uint64_t(aliasing) << 4) ^ uint64_t(divideBy);
    std::mt19937_64 rng(seed);
    const std::vector<uint8_t> a = randomBuffer(type, count, rng);
    const std::vector<uint8_t> b =
        aliasing == Aliasing::kAllSame ? a : randomBuffer(type, count, rng);
    // Sentinel bytes after the output catch writes past the end.
    std::vector<uint8_t> out(bytes + 16, 0xa5);
    std::vector<uint8_t> a2(a.begin(), a.begin() + bytes), b2(b.begin(), b.begin() + bytes);
    a2.resize(bytes + 16, 0xa5);
    b2.resize(bytes + 16, 0xa5);
    std::vector<uint8_t>* result = &out;
    switch (aliasing) {
      case Aliasing::kDistinct:
        reduce(out.data(), a2.data(), b2.data(), count, type, op, divideBy);
        break;
      case Aliasing::kOutIsA:
        reduce(a2.data(), a2.data(), b2.data(), count, type, op, divideBy);
        result = &a2;
        break;
      case Aliasing::kOutIsB:
        reduce(b2.data(), a2.data(), b2.data(), count, type, op, divideBy);
        result = &b2;
        break;
      case Aliasing::kAllSame:
        reduce(a2.data(), a2.data(), a2.data(), count, type, op, divideBy);
        result = &a2;
        break;
    }
    const std::string where = std::string(dataTypeName(type)) + " " + redOpName(op) + " count " +
                              std::to_string(count) + " " + aliasingName(aliasing) + " divideBy " +
                              std::to_string(divideBy) + " seed " + hex(seed);
    for (size_t i = 0; i < count; ++i) {
      const std::string why = checkElement(type, op, divideBy, a, b, *result, i);
      if (!why.empty()) {
        ADD_FAILURE() << where << ": element " << i << ": " << why;
        return false;
      }
    }
    for (size_t i = bytes; i < bytes + 16; ++i) {
      if ((*result)[i] != 0xa5) {
        ADD_FAILURE() << where << ": wrote past the end";
        return false;
      }
    }
    return true;
  }
};

TEST_P(ReduceTest, MatchesReference) {
  const auto op = std::get<1>(GetParam());
  // divideBy applies to any op; avg is where it matters, so it gets more divisors.
  std::vector<int> divisors = {1, 3};
  if (op == braidAvg) divisors = {1, 2, 3, 7, 1000};
  // Integers also divide through float/double inside the kernel, so try divisors that are not
  // exact in float. (Float types divide by float(divideBy), exact up to 2^24 ranks.)
  if (op == braidAvg && isIntegerType(std::get<0>(GetParam()))) {
    divisors.insert(divisors.end(), {16777217, INT32_MAX});
  }
  for (int divideBy : divisors) {
    for (Aliasing aliasing :
         {Aliasing::kDistinct, Aliasing::kOutIsA, Aliasing::kOutIsB, Aliasing::kAllSame}) {
      for (size_t count : kCounts) {
        if (!runCase(count, aliasing, divideBy)) return;
      }
    }
  }
}

TEST_P(ReduceTest, DivideByBelowTwoMeansNoDivision) {
  const auto [type, op] = GetParam();
  const size_t count = 33;
  std::mt19937_64 rng(kBaseSeed + 7);
  const std::vector<uint8_t> a = randomBuffer(type, count, rng);
  const std::vector<uint8_t> b = randomBuffer(type, count, rng);
  std::vector<uint8_t> want(a.size()), got(a.size());
  reduce(want.data(), a.data(), b.data(), count, type, op, 1);
  for (int divideBy : {0, -1}) {
    reduce(got.data(), a.data(), b.data(), count, type, op, divideBy);
    EXPECT_EQ(got, want) << "divideBy " << divideBy;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllTypesAndOps, ReduceTest,
    ::testing::Combine(::testing::Values(braidInt8, braidUint8, braidInt32, braidUint32, braidInt64,
                                         braidUint64, braidFloat16, braidFloat32, braidFloat64,
                                         braidBfloat16, braidFloat8e4m3, braidFloat8e5m2),
                       ::testing::Values(braidSum, braidProd, braidMax, braidMin, braidAvg)),
    [](const auto& info) {
      return std::string(dataTypeName(std::get<0>(info.param))) + "_" +
             redOpName(std::get<1>(info.param));
    });

// ---- divideCopy() ------------------------------------------------------------------------------

class DivideCopyTest : public ::testing::TestWithParam<braidDataType_t> {};

TEST_P(DivideCopyTest, MatchesReference) {
  const braidDataType_t type = GetParam();
  const size_t size = dataTypeSize(type);
  std::vector<int> divisors = {1, 2, 3, 7};
  if (isIntegerType(type)) divisors.insert(divisors.end(), {16777217, INT32_MAX});
  for (int divideBy : divisors) {
    for (bool inPlace : {false, true}) {
      for (size_t count : kCounts) {
        const uint64_t seed = kBaseSeed ^ (uint64_t(type) << 40) ^ (uint64_t(count) << 8) ^
                              (uint64_t(divideBy) << 1) ^ uint64_t(inPlace);
        std::mt19937_64 rng(seed);
        const std::vector<uint8_t> in = randomBuffer(type, count, rng);
        std::vector<uint8_t> out(in.size(), 0xa5);
        if (inPlace) {
          out = in;
          divideCopy(out.data(), out.data(), count, type, divideBy);
        } else {
          divideCopy(out.data(), in.data(), count, type, divideBy);
        }
        const std::string where = std::string(dataTypeName(type)) + " count " +
                                  std::to_string(count) + " divideBy " + std::to_string(divideBy) +
                                  (inPlace ? " in place" : "") + " seed " + hex(seed);
        if (divideBy == 1) {
          ASSERT_EQ(0, std::memcmp(out.data(), in.data(), count * size)) << where;
          continue;
        }
        for (size_t i = 0; i < count; ++i) {
          // in[i] / d is (in (op) zero) / d for sum-like ops on integers; for floats the single
          // float division before the narrowing is exact-rounded, so no tolerance is needed.
          std::string why;
          switch (type) {
            case braidFloat32: {
              const float v = load<float>(in, i), got = load<float>(out, i);
              const float want = toFloatRef(double(v) / divideBy);
              if (!sameValue(got, want)) why = "want " + std::to_string(want);
              break;
            }
            case braidFloat64: {
              const double v = load<double>(in, i), got = load<double>(out, i);
              if (!sameValue(got, v / divideBy)) why = "want " + std::to_string(v / divideBy);
              break;
            }
            case braidFloat16:
            case braidBfloat16:
            case braidFloat8e4m3:
            case braidFloat8e5m2: {
              const NarrowModel& model = *modelFor(type);
              uint32_t v = 0, got = 0;
              std::memcpy(&v, in.data() + i * size, size);
              std::memcpy(&got, out.data() + i * size, size);
              const uint32_t want = model.encode(model.decode(v) / divideBy);
              if (!sameValue(model.decode(got), model.decode(want))) {
                why = "in " + hex(v) + " want " + hex(want) + " got " + hex(got);
              }
              break;
            }
            default: {
              // Integer: compare against sum-with-zero divided, checked by checkInteger.
              std::vector<uint8_t> zero(in.size(), 0);
              why = checkElement(type, braidSum, divideBy, in, zero, out, i);
              break;
            }
          }
          ASSERT_TRUE(why.empty()) << where << ": element " << i << ": " << why;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DivideCopyTest,
                         ::testing::Values(braidInt8, braidUint8, braidInt32, braidUint32,
                                           braidInt64, braidUint64, braidFloat16, braidFloat32,
                                           braidFloat64, braidBfloat16, braidFloat8e4m3,
                                           braidFloat8e5m2),
                         [](const auto& info) { return std::string(dataTypeName(info.param)); });

// ---- targeted cases
// -------------------------------------------------------------------------------

TEST(ReduceSemanticsTest, IntegerAverageTruncatesTowardZero) {
  const int32_t a[] = {-7, 7, -1, 1, INT32_MIN, -5};
  const int32_t b[] = {0, 0, 0, 0, 0, -4};
  int32_t out[6];
  reduce(out, a, b, 6, braidInt32, braidAvg, 2);
  EXPECT_EQ(out[0], -3);
  EXPECT_EQ(out[1], 3);
  EXPECT_EQ(out[2], 0);
  EXPECT_EQ(out[3], 0);
  EXPECT_EQ(out[4], INT32_MIN / 2);
  EXPECT_EQ(out[5], -4);  // -9 / 2

  const int8_t a8[] = {-100, -128, 127};
  const int8_t b8[] = {-27, -128, 1};
  int8_t out8[3];
  reduce(out8, a8, b8, 3, braidInt8, braidAvg, 2);
  EXPECT_EQ(out8[0], -63);  // -127 / 2
  EXPECT_EQ(out8[1], 0);    // -256 wraps to 0 before dividing
  EXPECT_EQ(out8[2], -64);  // 128 wraps to -128

  const int64_t v64[] = {-9, INT64_MIN};
  int64_t out64[2];
  divideCopy(out64, v64, 2, braidInt64, 4);
  EXPECT_EQ(out64[0], -2);
  EXPECT_EQ(out64[1], INT64_MIN / 4);
}

TEST(ReduceSemanticsTest, IntegerSumAndProductWrap) {
  const int8_t a8[] = {127, -128};
  const int8_t b8[] = {1, -1};
  int8_t o8[2];
  reduce(o8, a8, b8, 2, braidInt8, braidSum, 1);
  EXPECT_EQ(o8[0], -128);
  EXPECT_EQ(o8[1], 127);
  const uint8_t ua[] = {255, 16};
  const uint8_t ub[] = {1, 16};
  uint8_t uo[2];
  reduce(uo, ua, ub, 2, braidUint8, braidProd, 1);
  EXPECT_EQ(uo[0], 255);
  EXPECT_EQ(uo[1], 0);
  const int64_t a64[] = {INT64_MAX, INT64_MIN};
  const int64_t b64[] = {1, INT64_MIN};
  int64_t o64[2];
  reduce(o64, a64, b64, 2, braidInt64, braidSum, 1);
  EXPECT_EQ(o64[0], INT64_MIN);
  EXPECT_EQ(o64[1], 0);
  const int32_t a32[] = {65536, INT32_MIN};
  const int32_t b32[] = {65536, -1};
  int32_t o32[2];
  reduce(o32, a32, b32, 2, braidInt32, braidProd, 1);
  EXPECT_EQ(o32[0], 0);
  EXPECT_EQ(o32[1], INT32_MIN);
}

TEST(ReduceSemanticsTest, MaxMinPropagateNan) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (braidRedOp_t op : {braidMax, braidMin}) {
    const float a[] = {nan, 1.0f, nan, -INFINITY};
    const float b[] = {1.0f, nan, nan, INFINITY};
    float out[4];
    reduce(out, a, b, 4, braidFloat32, op, 1);
    EXPECT_TRUE(std::isnan(out[0])) << redOpName(op);
    EXPECT_TRUE(std::isnan(out[1])) << redOpName(op);
    EXPECT_TRUE(std::isnan(out[2])) << redOpName(op);
    EXPECT_EQ(out[3], op == braidMax ? INFINITY : -INFINITY);

    const double da[] = {NAN, 2.0};
    const double db[] = {2.0, NAN};
    double dout[2];
    reduce(dout, da, db, 2, braidFloat64, op, 1);
    EXPECT_TRUE(std::isnan(dout[0]) && std::isnan(dout[1])) << redOpName(op);

    const uint16_t ha[] = {0x7e00, 0x3c00};  // NaN, 1.0
    const uint16_t hb[] = {0x3c00, 0xfe00};  // 1.0, -NaN
    uint16_t hout[2];
    reduce(hout, ha, hb, 2, braidFloat16, op, 1);
    EXPECT_EQ(hout[0] & 0x7c00, 0x7c00);
    EXPECT_NE(hout[0] & 0x03ff, 0);
    EXPECT_EQ(hout[1] & 0x7c00, 0x7c00);
    EXPECT_NE(hout[1] & 0x03ff, 0);

    const uint8_t ea[] = {0x7f, 0x38};  // NaN, 1.0
    const uint8_t eb[] = {0x38, 0xff};
    uint8_t eout[2];
    reduce(eout, ea, eb, 2, braidFloat8e4m3, op, 1);
    EXPECT_EQ(eout[0] & 0x7f, 0x7f);
    EXPECT_EQ(eout[1] & 0x7f, 0x7f);
  }
}

TEST(ReduceSemanticsTest, NarrowTypesRoundOnceAndSaturate) {
  // float16: 2048 + 1 is a tie (rounds to even 2048); 2048 + 3 rounds up to 2052.
  const uint16_t a[] = {0x6800, 0x6800, 0x7bff, 0x3c00};  // 2048, 2048, 65504, 1
  const uint16_t b[] = {0x3c00, 0x4200, 0x7bff, 0x4200};  // 1, 3, 65504, 3
  uint16_t out[4];
  reduce(out, a, b, 4, braidFloat16, braidSum, 1);
  EXPECT_EQ(out[0], 0x6800);
  EXPECT_EQ(out[1], 0x6802);
  EXPECT_EQ(out[2], 0x7bff);  // saturates, not inf
  EXPECT_EQ(out[3], 0x4400);  // 4
  reduce(out, a, b, 4, braidFloat16, braidAvg, 2);
  EXPECT_EQ(out[2], 0x7bff);          // (65504 + 65504) / 2 computed in float: exact
  EXPECT_EQ(out[3], 0x4000);          // 2
  const uint8_t ea[] = {0x7e, 0x38};  // 448, 1
  const uint8_t eb[] = {0x7e, 0x40};  // 448, 2
  uint8_t eout[2];
  reduce(eout, ea, eb, 2, braidFloat8e4m3, braidSum, 1);
  EXPECT_EQ(eout[0], 0x7e);
  EXPECT_EQ(eout[1], 0x44);  // 3
  // bfloat16 overflows float itself; the float result is already infinite and stays so.
  const uint16_t ba[] = {0x7f7f, 0x7f7f};
  const uint16_t bb[] = {0x7f7f, 0x3f80};  // max, 1
  uint16_t bout[2];
  reduce(bout, ba, bb, 2, braidBfloat16, braidSum, 1);
  EXPECT_EQ(bout[0], 0x7f80);
  EXPECT_EQ(bout[1], 0x7f7f);
}

TEST(ReduceSemanticsTest, InvalidArgumentsThrow) {
  float x = 1;
  EXPECT_THROW(reduce(&x, &x, &x, 1, braidDataType_t(braidNumTypes), braidSum, 1),
               std::invalid_argument);
  EXPECT_THROW(reduce(&x, &x, &x, 1, braidFloat32, braidRedOp_t(braidNumOps), 1),
               std::invalid_argument);
  EXPECT_THROW(reduce(&x, &x, &x, 1, braidDataType_t(15), braidSum, 1), std::invalid_argument);
  EXPECT_THROW(divideCopy(&x, &x, 1, braidFloat32, 0), std::invalid_argument);
  EXPECT_THROW(divideCopy(&x, &x, 1, braidDataType_t(braidNumTypes), 2), std::invalid_argument);
}

TEST(DataTypeTest, NamesSizesAndValidity) {
  struct Row {
    braidDataType_t type;
    size_t size;
    const char* name;
    const char* shortName;
  };
  const Row rows[] = {
      {braidInt8, 1, "int8", "int8"},
      {braidUint8, 1, "uint8", "uint8"},
      {braidInt32, 4, "int32", "int32"},
      {braidUint32, 4, "uint32", "uint32"},
      {braidInt64, 8, "int64", "int64"},
      {braidUint64, 8, "uint64", "uint64"},
      {braidFloat16, 2, "float16", "half"},
      {braidFloat32, 4, "float32", "float"},
      {braidFloat64, 8, "float64", "double"},
      {braidBfloat16, 2, "bfloat16", "bfloat16"},
      {braidFloat8e4m3, 1, "float8e4m3", "f8e4m3"},
      {braidFloat8e5m2, 1, "float8e5m2", "f8e5m2"},
  };
  for (const Row& row : rows) {
    EXPECT_EQ(dataTypeSize(row.type), row.size) << row.name;
    EXPECT_STREQ(dataTypeName(row.type), row.name);
    EXPECT_STREQ(dataTypeShortName(row.type), row.shortName);
    EXPECT_TRUE(isValidDataType(row.type));
  }
  // Out-of-range values as a C caller could pass them; only values the enum can hold (0..15) are
  // cast, since a wider one is already UB in C++. isValidDataType takes the raw int.
  for (int bad : {int(braidNumTypes), 15}) {
    EXPECT_EQ(dataTypeSize(braidDataType_t(bad)), 0u);
    EXPECT_STREQ(dataTypeName(braidDataType_t(bad)), "invalid");
    EXPECT_STREQ(dataTypeShortName(braidDataType_t(bad)), "invalid");
  }
  for (int bad : {-1, int(braidNumTypes), 1000})
    EXPECT_FALSE(isValidDataType(bad));
  const char* const ops[] = {"sum", "prod", "max", "min", "avg"};
  for (int op = 0; op < braidNumOps; ++op) {
    EXPECT_STREQ(redOpName(braidRedOp_t(op)), ops[op]);
    EXPECT_TRUE(isValidRedOp(op));
  }
  EXPECT_STREQ(redOpName(braidRedOp_t(braidNumOps)), "invalid");
  EXPECT_FALSE(isValidRedOp(-1));
  EXPECT_FALSE(isValidRedOp(braidNumOps));
}

}  // namespace
}  // namespace braid
