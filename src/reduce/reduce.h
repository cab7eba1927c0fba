// reduce.h: the CPU reduction kernels every host-side collective combines buffers with, plus the
// names and sizes of Braid's data types and reduction operations.
//
// One call handles a whole buffer: the (type, op) dispatch happens once per call and the element
// loops are templates the compiler vectorises. Integer sum and product wrap modulo 2^bits. Float
// max/min return NaN when either input is NaN. float16, bfloat16 and the fp8 types are widened to
// float, combined (and divided) in float and rounded back once, with the narrowing rules of
// float_types.h (round to nearest even, saturate finite overflow). bfloat16 shares float's
// exponent range, so a bfloat16 sum or product that overflows float is already infinite before
// the narrowing and stays infinite (as on a GPU); the other narrow types cannot overflow float.
#ifndef BRAID_REDUCE_REDUCE_H_
#define BRAID_REDUCE_REDUCE_H_

#include <cstddef>

#include "collectives/braid.h"

namespace braid {

// Bytes per element; 0 for a value outside braidDataType_t.
size_t dataTypeSize(braidDataType_t type);
// Braid's names: "int8", ..., "float16", "float32", "float64", "bfloat16", "float8e4m3",
// "float8e5m2"; "invalid" for a value outside the enum.
const char* dataTypeName(braidDataType_t type);
// The names nccl-tests prints ("half", "float", "double", "f8e4m3", ...), so benchmark output
// lines up with theirs; "invalid" for a value outside the enum.
const char* dataTypeShortName(braidDataType_t type);
// "sum", "prod", "max", "min", "avg"; "invalid" otherwise.
const char* redOpName(braidRedOp_t op);

bool isValidDataType(int type);
bool isValidRedOp(int op);

// out[i] = a[i] (op) b[i] for i < count. out may be a or b (or both) exactly; partial overlap is
// not supported. braidAvg combines like braidSum. When divideBy > 1 each combined value is then
// divided by divideBy, whatever the op: that is how the last step of an average applies 1/nranks
// (integer division truncates toward zero, exactly; float32/float64 divide in their own type;
// the narrow float types divide in float before the single rounding, so float types divide by
// float(divideBy), which is exact up to 2^24). Throws std::invalid_argument for an invalid type or
// op; callers holding a raw int from the C API check it with isValidDataType/isValidRedOp before
// casting, since an out-of-range enum value is already undefined in C++.
void reduce(void* out, const void* a, const void* b, size_t count, braidDataType_t type,
            braidRedOp_t op, int divideBy);

// out[i] = in[i] / divideBy: the average over a single rank. divideBy == 1 is a plain copy. out may
// be in exactly. Throws std::invalid_argument for an invalid type or divideBy < 1.
void divideCopy(void* out, const void* in, size_t count, braidDataType_t type, int divideBy);

}  // namespace braid

#endif  // BRAID_REDUCE_REDUCE_H_
