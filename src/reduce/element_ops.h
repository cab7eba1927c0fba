// element_ops.h: how two elements combine under each reduction op, shared by the CPU kernels
// (reduce.cc) and the CUDA kernels (cuda/kernels.cu), so both follow one set of rules.
#ifndef BRAID_REDUCE_ELEMENT_OPS_H_
#define BRAID_REDUCE_ELEMENT_OPS_H_

#include <type_traits>

#if defined(__CUDACC__)
#define BRAID_HOST_DEVICE __host__ __device__
#else
#define BRAID_HOST_DEVICE
#endif

namespace braid::element_ops {

// Integer arithmetic is done in an unsigned type at least as wide as unsigned int, so overflow
// wraps modulo 2^bits instead of being UB (and uint8 products cannot overflow a promoted int).
template <class T>
using WrapType = decltype(std::make_unsigned_t<T>() + 0u);

struct Sum {
  template <class T>
  BRAID_HOST_DEVICE static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return T(WrapType<T>(a) + WrapType<T>(b));
    } else {
      return a + b;
    }
  }
};

struct Prod {
  template <class T>
  BRAID_HOST_DEVICE static T apply(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      return T(WrapType<T>(a) * WrapType<T>(b));
    } else {
      return a * b;
    }
  }
};

// For floats, a NaN on either side wins: a reduction must not hide a NaN just because of where it
// sat in the ring. (Plain a > b ? a : b already yields b when b is NaN; the extra select covers a.)
struct Max {
  template <class T>
  BRAID_HOST_DEVICE static T apply(T a, T b) {
    T r = a > b ? a : b;
    if constexpr (std::is_floating_point_v<T>) r = a != a ? a : r;
    return r;
  }
};

struct Min {
  template <class T>
  BRAID_HOST_DEVICE static T apply(T a, T b) {
    T r = a < b ? a : b;
    if constexpr (std::is_floating_point_v<T>) r = a != a ? a : r;
    return r;
  }
};

}  // namespace braid::element_ops

#endif  // BRAID_REDUCE_ELEMENT_OPS_H_
