// float_types.h: bit-exact conversions between float32 and the narrow float formats Braid reduces
// (IEEE binary16, bfloat16, OCP fp8 e4m3fn and e5m2).
//
// The reduction kernels widen every narrow element to float, combine in float and narrow the result
// once, so these functions sit in the hot loop: they are header-only, branch-light and free of
// table lookups except for the 256-entry fp8 decode tables.
//
// Narrowing semantics (the same for all four formats):
//  - round to nearest, ties to even, subnormals included;
//  - a finite input beyond the format's finite range saturates to the largest finite value of its
//    sign (like CUDA's __NV_SATFINITE), so a sum that overflows stays a usable number rather than
//    poisoning the rest of a training step with infinities;
//  - an infinite input stays infinite where the format has infinities (float16, bfloat16, e5m2)
//    and saturates in e4m3fn, which has none;
//  - NaN stays NaN (quieted; the sign and the payload's top bits are kept where they fit).
// Widening is exact; a signalling NaN comes out quiet, as hardware converters do.
#ifndef BRAID_REDUCE_FLOAT_TYPES_H_
#define BRAID_REDUCE_FLOAT_TYPES_H_

#include <array>
#include <bit>
#include <cstdint>

namespace braid {

namespace float_detail {

constexpr uint32_t bitsOf(float f) {
  return std::bit_cast<uint32_t>(f);
}
constexpr float floatOf(uint32_t u) {
  return std::bit_cast<float>(u);
}

// c ? a : b as bit arithmetic. For a select between a float-derived value and another, GCC would
// otherwise sink the float operation into a branch (it must assume float ops can trap) and then
// refuse to vectorise the loop around it; the mask keeps both sides unconditional.
inline uint32_t blend(bool c, uint32_t a, uint32_t b) {
  return b ^ ((a ^ b) & (0u - uint32_t(c)));
}

// A narrow IEEE-style format: sign, kExpBits of exponent biased by kBias, kManBits of mantissa.
// kIeeeSpecials: the all-ones exponent holds infinities and NaNs (float16, e5m2). Without it
// (e4m3fn) that exponent holds normal numbers and only the all-ones pattern is NaN.
template <int kExpBits, int kManBits, int kBias, bool kIeeeSpecials>
struct NarrowFormat {
  static constexpr int kBits = 1 + kExpBits + kManBits;
  static constexpr uint32_t kSignBit = 1u << (kBits - 1);
  static constexpr uint32_t kMagMask = kSignBit - 1;
  static constexpr uint32_t kExpMax = (1u << kExpBits) - 1;
  static constexpr uint32_t kManMask = (1u << kManBits) - 1;
  static constexpr uint32_t kInf = kExpMax << kManBits;  // only meaningful with kIeeeSpecials
  static constexpr uint32_t kMaxFinite = kIeeeSpecials ? kInf - 1 : kMagMask - 1;
  static constexpr uint32_t kQuietNan = kIeeeSpecials ? kInf | (1u << (kManBits - 1)) : kMagMask;
  static constexpr int kShift = 23 - kManBits;  // mantissa bits float has and we do not

  // Float bits of a non-negative code that is not NaN or infinity (constexpr, for tables and
  // thresholds; the hot paths use cheaper forms).
  static constexpr uint32_t finiteToFloatBits(uint32_t mag) {
    uint32_t e = mag >> kManBits;
    uint32_t m = mag & kManMask;
    if (e != 0) return ((e - kBias + 127) << 23) | (m << kShift);
    if (m == 0) return 0;
    // Subnormal: normalise so the leading one becomes float's implicit bit.
    int exp = 1 - kBias + 127;
    while ((m & (1u << kManBits)) == 0) {
      m <<= 1;
      --exp;
    }
    return (uint32_t(exp) << 23) | ((m & kManMask) << kShift);
  }

  static constexpr uint32_t toFloatBits(uint32_t code) {
    uint32_t sign = (code & kSignBit) ? 0x80000000u : 0u;
    uint32_t mag = code & kMagMask;
    if (kIeeeSpecials && (mag >> kManBits) == kExpMax) {
      return sign | 0x7f800000u | (mag == kInf ? 0u : 0x00400000u | ((mag & kManMask) << kShift));
    }
    if (!kIeeeSpecials && mag == kMagMask) return sign | 0x7fc00000u | ((mag & kManMask) << kShift);
    return sign | finiteToFloatBits(mag);
  }

  static constexpr std::array<uint32_t, (1u << kBits)> makeDecodeTable() {
    std::array<uint32_t, (1u << kBits)> table{};
    for (uint32_t code = 0; code < table.size(); ++code)
      table[code] = toFloatBits(code);
    return table;
  }

  // Every case is computed and the right one selected, with no early returns: branch-free code
  // is what lets the compiler vectorise a loop of these conversions.
  static uint32_t fromFloat(float f) {
    const uint32_t x = bitsOf(f);
    const uint32_t sign = (x >> 31) << (kBits - 1);
    const uint32_t ax = x & 0x7fffffffu;
    constexpr uint32_t kMaxFiniteBits = finiteToFloatBits(kMaxFinite);
    constexpr uint32_t kMinNormalBits = uint32_t(127 - kBias + 1) << 23;
    // Normal: drop kShift bits with round-to-nearest-even (add just under half, plus the bit that
    // becomes the lsb); a carry out of the mantissa correctly bumps the exponent. Then rebias
    // from 127 to kBias.
    const uint32_t rounded = ax + ((1u << (kShift - 1)) - 1) + ((ax >> kShift) & 1);
    const uint32_t normal = (rounded >> kShift) - (uint32_t(127 - kBias) << kManBits);
    // Subnormal (or zero): adding 2^(24-kBias-kManBits), whose float ulp is exactly the narrow
    // subnormal step, makes the FPU round to nearest even (Braid never changes the rounding
    // mode); the low bits of the sum are then the subnormal code, and a round-up into the
    // smallest normal yields its code too. A float subnormal adds as zero even under
    // denormals-are-zero, which is the right answer for it.
    constexpr float kMagic = floatOf(uint32_t(127 + 24 - kBias - kManBits) << 23);
    const uint32_t subnormal = bitsOf(floatOf(ax) + kMagic) - bitsOf(kMagic);
    uint32_t r = blend(ax < kMinNormalBits, subnormal, normal);
    // Everything from the largest finite value up (short of infinity and NaN) saturates to it.
    // (blend, not ?:, for all of these: with ?: GCC sees r is dead on those paths, moves the
    // float add into a branch after all, and the loop no longer vectorises.)
    r = blend(ax >= kMaxFiniteBits, kMaxFinite, r);
    if constexpr (kIeeeSpecials) r = blend(ax == 0x7f800000u, kInf, r);
    r = blend(ax > 0x7f800000u, kQuietNan | ((ax >> kShift) & kManMask), r);
    return sign | r;
  }
};

using HalfFormat = NarrowFormat<5, 10, 15, true>;
using E4m3Format = NarrowFormat<4, 3, 7, false>;
using E5m2Format = NarrowFormat<5, 2, 15, true>;

inline constexpr std::array<uint32_t, 256> kE4m3ToFloatBits = E4m3Format::makeDecodeTable();
inline constexpr std::array<uint32_t, 256> kE5m2ToFloatBits = E5m2Format::makeDecodeTable();

}  // namespace float_detail

// ---- IEEE binary16 ----------------------------------------------------------------------------

inline float halfToFloat(uint16_t h) {
  using float_detail::bitsOf;
  using float_detail::floatOf;
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t mag = h & 0x7fffu;
  // Normal numbers: move exponent and mantissa into place and rebias 15 -> 127. Written as
  // selects rather than early returns so the compiler can vectorise a loop of these.
  uint32_t bits = (mag << 13) + (uint32_t(127 - 15) << 23);
  bits = mag >= 0x7c00u ? bits + (uint32_t(128 - 16) << 23) : bits;  // inf/NaN: exponent all ones
  bits = mag >= 0x7c01u ? bits | 0x00400000u : bits;                 // NaN comes out quiet
  // Zero and subnormals are mag * 2^-24; the int->float conversion normalises them exactly.
  const uint32_t subnormal = bitsOf(float(int32_t(mag)) * 0x1p-24f);
  return floatOf(sign | float_detail::blend(mag < 0x0400u, subnormal, bits));
}

inline uint16_t floatToHalf(float f) {
  return uint16_t(float_detail::HalfFormat::fromFloat(f));
}

// ---- bfloat16: the top half of a float32 ------------------------------------------------------

inline float bf16ToFloat(uint16_t b) {
  return float_detail::floatOf(uint32_t(b) << 16);
}

inline uint16_t floatToBf16(float f) {
  const uint32_t x = float_detail::bitsOf(f);
  const uint32_t ax = x & 0x7fffffffu;
  // Same exponent layout as float, so rounding the low 16 bits to nearest even is all there is,
  // subnormals included. Selects, not branches, so that loops of this vectorise.
  uint32_t r = (ax + 0x7fffu + ((ax >> 16) & 1u)) >> 16;
  r = ax >= 0x7f7f0000u ? 0x7f7fu : r;              // at or beyond the largest finite: saturate
  r = ax == 0x7f800000u ? 0x7f80u : r;              // infinity stays
  r = ax > 0x7f800000u ? (ax >> 16) | 0x0040u : r;  // NaN, quieted
  return uint16_t(((x >> 16) & 0x8000u) | r);
}

// ---- OCP fp8 ----------------------------------------------------------------------------------

// e4m3fn: bias 7, no infinities, largest finite 448, NaN is S.1111.111.
inline float e4m3ToFloat(uint8_t v) {
  return float_detail::floatOf(float_detail::kE4m3ToFloatBits[v]);
}
inline uint8_t floatToE4m3(float f) {
  return uint8_t(float_detail::E4m3Format::fromFloat(f));
}

// e5m2: bias 15, IEEE-style infinities and NaNs, largest finite 57344.
inline float e5m2ToFloat(uint8_t v) {
  return float_detail::floatOf(float_detail::kE5m2ToFloatBits[v]);
}
inline uint8_t floatToE5m2(float f) {
  return uint8_t(float_detail::E5m2Format::fromFloat(f));
}

}  // namespace braid

#endif  // BRAID_REDUCE_FLOAT_TYPES_H_
