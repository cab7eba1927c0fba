// Reduction kernels next to memcpy, on buffers larger than the caches (and one that fits L2).
// GB/s counts every byte touched: memcpy reads n and writes n; out = a (op) b reads 2n, writes n.
// So memcpy's figure is this machine's copy bandwidth and a kernel near it is memory bound.
//   bench/micro/reduce_micro --benchmark_filter='float32'
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "reduce/reduce.h"

namespace {

constexpr braidDataType_t kTypes[] = {
    braidInt8,    braidUint8,   braidInt32,   braidUint32,   braidInt64,      braidUint64,
    braidFloat16, braidFloat32, braidFloat64, braidBfloat16, braidFloat8e4m3, braidFloat8e5m2};
constexpr braidRedOp_t kOps[] = {braidSum, braidProd, braidMax, braidMin, braidAvg};

// Bytes per buffer: 256 KiB (in L2) and 64 MiB (memory).
void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(256 << 10)->Arg(64 << 20)->Unit(benchmark::kMicrosecond);
}

void memcpyBench(benchmark::State& state) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(2 * bytes));
}

void reduceBench(benchmark::State& state, braidDataType_t type, braidRedOp_t op) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  const size_t count = bytes / braid::dataTypeSize(type);
  // Small positive integers are valid values of every type (no NaN paths, no denormals).
  std::vector<unsigned char> a(bytes, 1), b(bytes, 1), out(bytes);
  for (auto _ : state) {
    braid::reduce(out.data(), a.data(), b.data(), count, type, op, 1);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(3 * bytes));
}

// One benchmark per (type, op), named "reduce/float32/sum".
[[maybe_unused]] const bool registered = [] {
  benchmark::RegisterBenchmark("memcpy", memcpyBench)->Apply(sizes);
  for (braidDataType_t type : kTypes) {
    for (braidRedOp_t op : kOps) {
      std::string name =
          std::string("reduce/") + braid::dataTypeName(type) + "/" + braid::redOpName(op);
      benchmark::RegisterBenchmark(name.c_str(), reduceBench, type, op)->Apply(sizes);
    }
  }
  return true;
}();

}  // namespace

BENCHMARK_MAIN();
