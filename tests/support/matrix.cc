// The matrix: inputs, references and checks. Inputs are small integers chosen per type and op so
// that every partial result is exactly representable (no rounding anywhere except braidAvg), which
// makes the reference exact even for fp8; integer types wrap, and the reference wraps identically.
#include "support/matrix.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>

#include "reduce/float_types.h"
#include "reduce/reduce.h"

namespace braid::test {

namespace {

bool isFloat(braidDataType_t t) {
  return t == braidFloat16 || t == braidFloat32 || t == braidFloat64 || t == braidBfloat16 ||
         t == braidFloat8e4m3 || t == braidFloat8e5m2;
}
bool isSigned(braidDataType_t t) {
  return t == braidInt8 || t == braidInt32 || t == braidInt64 || isFloat(t);
}
int bitsOf(braidDataType_t t) {
  return static_cast<int>(dataTypeSize(t)) * 8;
}

uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// The input of `rank` at global index i: a small integer, exact in every type.
int64_t inputValue(braidDataType_t t, braidRedOp_t op, int rank, size_t i, unsigned seed) {
  uint32_t h = mix(static_cast<uint32_t>(i) * 2654435761U ^ static_cast<uint32_t>(rank) * 97U ^
                   seed * 0x9e3779b9U);
  if (op == braidProd) {
    static const int64_t kSigned[] = {1, 2, -1, 1};
    static const int64_t kUnsigned[] = {1, 2, 1, 3};
    return isSigned(t) ? kSigned[h % 4] : kUnsigned[h % 4];
  }
  int64_t range;  // values lie in [-range, range] (signed) or [0, range] (unsigned)
  switch (t) {
    case braidFloat8e4m3:
    case braidFloat8e5m2:
      range = 1;
      break;
    case braidFloat16:
      range = 4;
      break;
    case braidBfloat16:
      range = 15;
      break;
    default:
      range = 1000;
      break;
  }
  if (op == braidMax || op == braidMin) range = t == braidFloat8e4m3 ? 400 : range * 8;
  if ((op == braidMax || op == braidMin) && (t == braidFloat8e4m3 || t == braidFloat8e5m2)) {
    range = t == braidFloat8e4m3 ? 15 : 8;  // every integer up to here is exact
  }
  int64_t span = isSigned(t) ? 2 * range + 1 : range + 1;
  return static_cast<int64_t>(h % static_cast<uint32_t>(span)) - (isSigned(t) ? range : 0);
}

void store(void* buf, size_t i, braidDataType_t t, int64_t v) {
  char* p = static_cast<char*>(buf) + i * dataTypeSize(t);
  float f = static_cast<float>(v);
  switch (t) {
    case braidFloat16: {
      uint16_t b = floatToHalf(f);
      std::memcpy(p, &b, 2);
      break;
    }
    case braidBfloat16: {
      uint16_t b = floatToBf16(f);
      std::memcpy(p, &b, 2);
      break;
    }
    case braidFloat8e4m3:
      *reinterpret_cast<uint8_t*>(p) = floatToE4m3(f);
      break;
    case braidFloat8e5m2:
      *reinterpret_cast<uint8_t*>(p) = floatToE5m2(f);
      break;
    case braidFloat32:
      std::memcpy(p, &f, 4);
      break;
    case braidFloat64: {
      double d = static_cast<double>(v);
      std::memcpy(p, &d, 8);
      break;
    }
    default: {
      uint64_t bits = static_cast<uint64_t>(v);
      std::memcpy(p, &bits, dataTypeSize(t));  // little endian: the low bytes
    }
  }
}

// An element as double (float types) or as its raw two's-complement bits (integer types).
double loadFloat(const void* buf, size_t i, braidDataType_t t) {
  const char* p = static_cast<const char*>(buf) + i * dataTypeSize(t);
  switch (t) {
    case braidFloat16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return halfToFloat(b);
    }
    case braidBfloat16: {
      uint16_t b;
      std::memcpy(&b, p, 2);
      return bf16ToFloat(b);
    }
    case braidFloat8e4m3:
      return e4m3ToFloat(*reinterpret_cast<const uint8_t*>(p));
    case braidFloat8e5m2:
      return e5m2ToFloat(*reinterpret_cast<const uint8_t*>(p));
    case braidFloat32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    default: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
  }
}
uint64_t loadBits(const void* buf, size_t i, braidDataType_t t) {
  uint64_t bits = 0;
  std::memcpy(&bits, static_cast<const char*>(buf) + i * dataTypeSize(t), dataTypeSize(t));
  return bits;
}

uint64_t mask(braidDataType_t t, uint64_t v) {
  return bitsOf(t) == 64 ? v : v & ((uint64_t{1} << bitsOf(t)) - 1);
}
int64_t signExtend(braidDataType_t t, uint64_t v) {
  int b = bitsOf(t);
  if (!isSigned(t) || b == 64) return static_cast<int64_t>(v);
  uint64_t m = uint64_t{1} << (b - 1);
  return static_cast<int64_t>((v ^ m) - m);
}

// Checks element i of out against the reduction of `values` (one per rank).
bool checkReduced(const void* out, size_t i, braidDataType_t t, braidRedOp_t op,
                  const std::vector<int64_t>& values, std::string* why) {
  int n = static_cast<int>(values.size());
  char text[200];
  if (isFloat(t)) {
    double ref = values[0];
    for (int r = 1; r < n; ++r) {
      double v = static_cast<double>(values[r]);
      switch (op) {
        case braidProd:
          ref *= v;
          break;
        case braidMax:
          ref = std::max(ref, v);
          break;
        case braidMin:
          ref = std::min(ref, v);
          break;
        default:
          ref += v;
          break;
      }
    }
    double got = loadFloat(out, i, t);
    double tolerance = 0;
    if (op == braidAvg) {
      ref /= n;
      int mantissa = t == braidFloat64      ? 52
                     : t == braidFloat32    ? 23
                     : t == braidFloat16    ? 10
                     : t == braidBfloat16   ? 7
                     : t == braidFloat8e4m3 ? 3
                                            : 2;
      tolerance = std::ldexp(std::fabs(ref), -mantissa) + 1e-300;
    }
    if (std::fabs(got - ref) <= tolerance) return true;
    snprintf(text, sizeof(text), "got %.9g expected %.9g", got, ref);
    *why = text;
    return false;
  }
  uint64_t acc = static_cast<uint64_t>(values[0]);
  int64_t best = signExtend(t, mask(t, acc));
  for (int r = 1; r < n; ++r) {
    uint64_t v = static_cast<uint64_t>(values[r]);
    int64_t sv = signExtend(t, mask(t, v));
    switch (op) {
      case braidProd:
        acc *= v;
        break;
      case braidMax:
        best =
            isSigned(t)
                ? std::max(best, sv)
                : static_cast<int64_t>(std::max<uint64_t>(static_cast<uint64_t>(best), mask(t, v)));
        break;
      case braidMin:
        best =
            isSigned(t)
                ? std::min(best, sv)
                : static_cast<int64_t>(std::min<uint64_t>(static_cast<uint64_t>(best), mask(t, v)));
        break;
      default:
        acc += v;
        break;
    }
  }
  uint64_t expected;
  if (op == braidMax || op == braidMin) {
    expected = mask(t, static_cast<uint64_t>(best));
  } else if (op == braidAvg) {
    int64_t sum = signExtend(t, mask(t, acc));
    expected = isSigned(t) ? mask(t, static_cast<uint64_t>(sum / n))
                           : mask(t, mask(t, acc) / static_cast<uint64_t>(n));
  } else {
    expected = mask(t, acc);
  }
  uint64_t got = loadBits(out, i, t);
  if (got == expected) return true;
  snprintf(text, sizeof(text), "got %lld expected %lld", static_cast<long long>(signExtend(t, got)),
           static_cast<long long>(signExtend(t, expected)));
  *why = text;
  return false;
}

enum class Coll {
  kAllReduce,
  kReduce,
  kReduceScatter,
  kBroadcast,
  kAllGather,
  kAlltoAll,
  kSendRecv,
  kBarrier
};
const char* collName(Coll c) {
  static const char* kNames[] = {"allreduce", "reduce",   "reducescatter", "broadcast",
                                 "allgather", "alltoall", "sendrecv",      "barrier"};
  return kNames[static_cast<int>(c)];
}

struct Case {
  Coll coll;
  braidDataType_t type;
  braidRedOp_t op;
  size_t count;
  int root;
  bool inPlace;
};

// A buffer with guard bytes after it, so a write past the end is caught.
struct Guarded {
  static constexpr size_t kGuard = 64;
  std::vector<unsigned char> bytes;
  size_t size;
  explicit Guarded(size_t n) : bytes(n + kGuard, 0xA5), size(n) {}
  void* data() { return bytes.data(); }
  bool guardIntact() const {
    for (size_t i = size; i < bytes.size(); ++i) {
      if (bytes[i] != 0xA5) return false;
    }
    return true;
  }
};

class Runner {
 public:
  Runner(braidComm_t comm, unsigned seed, const DeviceMemory* device)
      : comm_(comm), seed_(seed), device_(device) {
    braidCommUserRank(comm, &rank_);
    braidCommCount(comm, &n_);
  }
  int failures() const { return failures_; }

  void run(const Case& c) {
    size_t es = dataTypeSize(c.type);
    size_t n = static_cast<size_t>(n_);
    size_t r = static_cast<size_t>(rank_);
    size_t inCount = c.count, outCount = c.count;
    switch (c.coll) {
      case Coll::kReduceScatter:
        inCount = c.count * n;
        break;
      case Coll::kAllGather:
        outCount = c.count * n;
        break;
      case Coll::kAlltoAll:
        inCount = outCount = c.count * n;
        break;
      default:
        break;
    }
    // In place: the input lives inside the output buffer where the API expects it.
    size_t bufCount = std::max(inCount, outCount);
    Guarded out(bufCount * es);
    Guarded in(inCount * es);
    std::memset(out.data(), 0xA5, out.size);
    char* outPtr = static_cast<char*>(out.data());
    char* inPtr = static_cast<char*>(in.data());
    if (c.inPlace) {
      inPtr = outPtr;
      if (c.coll == Coll::kAllGather) inPtr = outPtr + r * c.count * es;
      if (c.coll == Coll::kReduceScatter) outPtr = inPtr + r * c.count * es;
    }
    for (size_t i = 0; i < inCount; ++i)
      store(inPtr, i, c.type, inputValue(c.type, c.op, rank_, i, seed_));
    braidResult_t rc = device_ != nullptr ? callOnDevice(c, in, out, inPtr, outPtr)
                                          : call(c, inPtr, outPtr, nullptr);
    if (rc != braidSuccess) {
      report(c,
             std::string("returned ") + braidGetErrorString(rc) + ": " + braidGetLastError(comm_));
      return;
    }
    if (!out.guardIntact() || (!c.inPlace && !in.guardIntact()))
      report(c, "wrote past a buffer's end");
    verify(c, outPtr);
    ++seed_;
  }

 private:
  // Runs the case on device copies of the host buffers and copies the results back; a failure on
  // the stream comes back as the communicator's asynchronous error.
  braidResult_t callOnDevice(const Case& c, Guarded& in, Guarded& out, const char* inPtr,
                             char* outPtr) {
    const DeviceMemory& d = *device_;
    auto* devOut = static_cast<char*>(d.alloc(out.bytes.size(), d.stream));
    auto* devIn = static_cast<char*>(d.alloc(in.bytes.size(), d.stream));
    d.upload(devOut, out.bytes.data(), out.bytes.size(), d.stream);
    d.upload(devIn, in.bytes.data(), in.bytes.size(), d.stream);
    auto onDevice = [&](const char* p) {
      auto* o = static_cast<const char*>(out.data());
      if (p >= o && p < o + out.bytes.size()) return devOut + (p - o);
      return devIn + (p - static_cast<const char*>(in.data()));
    };
    braidResult_t rc = call(c, onDevice(inPtr), onDevice(outPtr), d.stream);
    std::string streamError = d.synchronize(d.stream);
    if (rc == braidSuccess && !streamError.empty()) {
      report(c, "the stream failed: " + streamError);
      rc = braidUnhandledCudaError;
    }
    braidResult_t async = braidSuccess;
    if (rc == braidSuccess && braidCommGetAsyncError(comm_, &async) == braidSuccess) rc = async;
    d.download(out.bytes.data(), devOut, out.bytes.size(), d.stream);
    d.download(in.bytes.data(), devIn, in.bytes.size(), d.stream);
    d.release(devOut, d.stream);
    d.release(devIn, d.stream);
    return rc;
  }

  braidResult_t call(const Case& c, const void* in, void* out, void* stream) {
    switch (c.coll) {
      case Coll::kAllReduce:
        return braidAllReduce(in, out, c.count, c.type, c.op, comm_, stream);
      case Coll::kReduce:
        return braidReduce(in, out, c.count, c.type, c.op, c.root, comm_, stream);
      case Coll::kReduceScatter:
        return braidReduceScatter(in, out, c.count, c.type, c.op, comm_, stream);
      case Coll::kBroadcast:
        return braidBroadcast(in, out, c.count, c.type, c.root, comm_, stream);
      case Coll::kAllGather:
        return braidAllGather(in, out, c.count, c.type, comm_, stream);
      case Coll::kAlltoAll:
        return braidAlltoAll(in, out, c.count, c.type, comm_, stream);
      case Coll::kSendRecv: {
        braidGroupStart();
        braidSend(in, c.count, c.type, (rank_ + 1) % n_, comm_, stream);
        braidRecv(out, c.count, c.type, (rank_ + n_ - 1) % n_, comm_, stream);
        return braidGroupEnd();
      }
      case Coll::kBarrier:
        return braidBarrier(comm_, stream);
    }
    return braidInternalError;
  }

  void verify(const Case& c, const void* out) {
    size_t n = static_cast<size_t>(n_);
    std::vector<int64_t> values(n);
    std::string why;
    auto expectReduced = [&](size_t outIndex, size_t inIndex) {
      for (int q = 0; q < n_; ++q)
        values[static_cast<size_t>(q)] = inputValue(c.type, c.op, q, inIndex, seed_);
      return checkReduced(out, outIndex, c.type, c.op, values, &why);
    };
    auto expectCopy = [&](size_t outIndex, int fromRank, size_t inIndex) {
      int64_t v = inputValue(c.type, c.op, fromRank, inIndex, seed_);
      values.assign(1, v);
      bool ok = checkReduced(out, outIndex, c.type, braidSum, values, &why);
      values.resize(n);
      return ok;
    };
    size_t count = c.count;
    size_t r = static_cast<size_t>(rank_);
    for (size_t i = 0; i < count; ++i) {
      bool ok = true;
      size_t at = i;
      switch (c.coll) {
        case Coll::kAllReduce:
          ok = expectReduced(i, i);
          break;
        case Coll::kReduce:
          if (rank_ != c.root) return;
          ok = expectReduced(i, i);
          break;
        case Coll::kReduceScatter:
          ok = expectReduced(i, r * count + i);
          break;
        case Coll::kBroadcast:
          ok = expectCopy(i, c.root, i);
          break;
        case Coll::kSendRecv:
          ok = expectCopy(i, (rank_ + n_ - 1) % n_, i);
          break;
        case Coll::kBarrier:  // count 0: success is all there is to check
          break;
        case Coll::kAllGather:
        case Coll::kAlltoAll:
          for (int q = 0; q < n_ && ok; ++q) {
            at = static_cast<size_t>(q) * count + i;
            ok = expectCopy(at, q, c.coll == Coll::kAllGather ? i : r * count + i);
          }
          break;
      }
      if (!ok) {
        report(c, "element " + std::to_string(at) + ": " + why);
        return;
      }
    }
  }

  void report(const Case& c, const std::string& what) {
    ++failures_;
    fprintf(stderr, "FAIL rank %d/%d %s %s %s count=%zu root=%d %s (seed %u): %s\n", rank_, n_,
            collName(c.coll), dataTypeName(c.type), redOpName(c.op), c.count, c.root,
            c.inPlace ? "in-place" : "out-of-place", seed_, what.c_str());
  }

  braidComm_t comm_;
  unsigned seed_;
  const DeviceMemory* device_;
  int rank_ = 0;
  int n_ = 1;
  int failures_ = 0;
};

}  // namespace

std::vector<size_t> standardShapeSizes(size_t chunkBytes, size_t typeSize) {
  size_t chunk = chunkBytes / typeSize;
  return {0, 1, 7, 1023, chunk - 1, chunk + 1, (size_t{4} << 20) + 3};
}

int runMatrix(braidComm_t comm, const MatrixOptions& options) {
  Runner runner(comm, options.seed, options.device);
  int n = 1;
  braidCommCount(comm, &n);
  auto wanted = [&](Coll coll) {
    return options.collectives.empty() ||
           std::find(options.collectives.begin(), options.collectives.end(), collName(coll)) !=
               options.collectives.end();
  };
  for (Coll coll : {Coll::kAllReduce, Coll::kReduce, Coll::kReduceScatter}) {
    if (!wanted(coll)) continue;
    for (int t = 0; t < braidNumTypes; ++t) {
      for (int op = 0; op < braidNumOps; ++op) {
        for (size_t count : options.typeOpSizes) {
          runner.run(Case{coll, static_cast<braidDataType_t>(t), static_cast<braidRedOp_t>(op),
                          count, n - 1, false});
        }
      }
    }
  }
  for (size_t count : options.shapeSizes) {
    for (Coll coll : {Coll::kAllReduce, Coll::kReduce, Coll::kReduceScatter, Coll::kBroadcast,
                      Coll::kAllGather, Coll::kAlltoAll, Coll::kSendRecv}) {
      if (!wanted(coll)) continue;
      // Per-rank counts for the gathering collectives stay odd but keep the total in bounds.
      size_t c = count;
      if (coll == Coll::kAllGather || coll == Coll::kReduceScatter || coll == Coll::kAlltoAll) {
        c = count > 4096 ? (count / static_cast<size_t>(n)) | 1 : count;
      }
      bool rooted = coll == Coll::kReduce || coll == Coll::kBroadcast;
      std::vector<int> roots = rooted ? std::vector<int>{0, n / 2, n - 1} : std::vector<int>{-1};
      if (rooted && n <= 4) {
        roots.clear();
        for (int root = 0; root < n; ++root)
          roots.push_back(root);
      }
      for (int root : roots) {
        for (bool inPlace : {false, true}) {
          if (inPlace && (coll == Coll::kAlltoAll || coll == Coll::kSendRecv)) continue;
          braidDataType_t type =
              (count + static_cast<size_t>(coll)) % 2 == 0 ? braidInt32 : braidFloat32;
          braidRedOp_t op = type == braidInt32 ? braidMax : braidSum;
          runner.run(Case{coll, type, op, c, root, inPlace});
        }
      }
    }
  }
  for (int i = 0; i < 3 && wanted(Coll::kBarrier); ++i)
    runner.run(Case{Coll::kBarrier, braidInt32, braidSum, 0, -1, false});
  return runner.failures();
}

}  // namespace braid::test
