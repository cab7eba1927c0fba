// harness.h: the parts of the benchmark harness that the *_perf programs never see.
//
// common.cc drives a run; options.cc reads nccl-tests' command line; values.cc knows the element
// types and builds the checked data; report.cc prints nccl-tests' text report and writes the JSON
// file. BufferSpace is the seam for buffer memory: host memory, or CUDA device memory
// (device_space.cc, built where Braid has CUDA).
#ifndef BRAID_BENCH_HARNESS_H_
#define BRAID_BENCH_HARNESS_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common.h"

namespace braid::bench {

// ---------------------------------------------------------------------------------------------
// Element types and ops (values.cc)
// ---------------------------------------------------------------------------------------------
enum class Kind { kSigned, kUnsigned, kFloat };

struct TypeInfo {
  braidDataType_t type;
  const char* name;  // nccl-tests' spelling, used by -d and in the type column
  size_t size;       // bytes per element
  Kind kind;         //
  int exponentBits;  // floating types only
  int mantissaBits;  // floating types only: the stored fraction bits
  bool finiteOnly;   // fp8 e4m3: no infinities, the top exponent still holds numbers
  // Inputs and every partial result stay within +-resultLimit: integers there are exact in the
  // type, and none of them is what the poison byte decodes to (int8 and uint8 stop short of 90).
  int64_t resultLimit;
  int prodTwos;  // how many factors of 2 a product may collect and stay exact
};

struct OpInfo {
  braidRedOp_t op;
  const char* name;  // nccl-tests' spelling, used by -o and in the redop column
};

std::span<const TypeInfo> allTypes();  // in braidDataType_t order
const TypeInfo* findType(std::string_view name);
std::span<const OpInfo> allOps();  // in braidRedOp_t order
const OpInfo* findOp(std::string_view name);

// The data of one check: see Pattern. `reduces` is false for collectives that only move data.
Pattern makePattern(const TypeInfo& type, braidRedOp_t op, bool reduces, int nranks, uint64_t seed);

// Receive buffers are filled with this byte before each checked call. It decodes to a value no
// pattern produces in any type, so an element the call failed to write counts as wrong.
inline constexpr unsigned char kPoisonByte = 0x5A;

void storeElement(const TypeInfo& type, void* base, size_t index, int64_t value);
// Whether element `index` holds `want` (divided by nranks first when `average`; floating types
// then allow the rounding of that division).
bool elementMatches(const TypeInfo& type, const void* base, size_t index, int64_t want,
                    bool average, int nranks);

// ---------------------------------------------------------------------------------------------
// Command line (options.cc)
// ---------------------------------------------------------------------------------------------
// kAuto: device memory where this build has CUDA and the machine a GPU, as nccl-tests would use.
enum class MemoryKind { kAuto, kHost, kDevice };

inline constexpr int kAll = -1;  // -d all, -o all, -r all

struct Options {
  std::string program;            // basename of argv[0], e.g. "all_reduce_perf"
  std::vector<std::string> args;  // the whole command line, for the JSON file
  int nThreads = 1;
  int nGpus = 1;
  size_t minBytes = 32 << 20;
  size_t maxBytes = 32 << 20;
  size_t stepBytes = 1 << 20;
  size_t stepFactor = 1;  // > 1: sizes grow by this factor, else by stepBytes
  int iters = 20;
  int warmupIters = 1;
  int aggIters = 1;
  int check = 1;  // checked calls per size; 0 turns checking off
  int type = braidFloat;
  int op = braidSum;
  int root = 0;
  int blocking = 0;     // 1: barrier after each call; 2: wait only (host calls always wait)
  int timeoutSec = -1;  // -1: leave the library's default
  int average = 1;      // how ranks' times combine: 0 rank 0, 1 mean, 2 min, 3 max
  bool reportCpuTime = false;
  MemoryKind memory = MemoryKind::kAuto;
  std::string jsonPath;
  std::vector<std::string> notes;  // flags accepted without effect; rank 0 prints them
};

// Exits with status 0 after -h, and with status 2 (after a message) on anything it cannot use.
Options parseOptions(int argc, char** argv);

// ---------------------------------------------------------------------------------------------
// Buffer memory (common.cc)
// ---------------------------------------------------------------------------------------------
// Where the benchmark's buffers live. Fill and check code only touches them through map() and
// unmap(), so device memory needs nothing more than a BufferSpace that stages through the host.
class BufferSpace {
 public:
  virtual ~BufferSpace() = default;
  virtual const char* name() const = 0;        // "host"
  virtual void* allocate(size_t bytes) = 0;    // nullptr when out of memory
  virtual void release(void* buffer) = 0;      //
  virtual std::string deviceTag() const = 0;   // the bracketed field of the "Using devices" line
  virtual std::string deviceName() const = 0;  // the text after it
  virtual int deviceIndex() const = 0;         // -1 for host memory
  // A host-visible view of [buffer, buffer + bytes) holding the buffer's contents; after unmap()
  // with written = true the buffer holds the view's contents.
  virtual std::byte* map(void* buffer, size_t bytes) = 0;
  virtual void unmap(void* buffer, std::byte* view, size_t bytes, bool written) = 0;
  // The stream calls on these buffers go on (NULL for host memory), and a wait until everything
  // on it has finished.
  virtual braidStream_t stream() const = 0;
  virtual void synchronize() = 0;
};

// A BufferSpace of CUDA device memory on this process's GPU, or nullptr (after saying why on
// stderr when `required`) where there is none or the build has no CUDA.
std::unique_ptr<BufferSpace> makeDeviceBufferSpace(bool required);

// ---------------------------------------------------------------------------------------------
// Report (report.cc)
// ---------------------------------------------------------------------------------------------
struct RankInfo {
  int rank = 0;
  int pid = 0;
  std::string hostname;
  int device = -1;
  std::string deviceTag;
  std::string deviceName;
  std::string transports;  // peers per transport: "shm:1,tcp:2"
};

struct RowKey {
  size_t bytes = 0;
  size_t count = 0;
  const char* type = "";
  const char* op = "";
  int root = -1;
};

struct Measurement {
  bool ran = false;  // false: this mode is not supported, every column reads N/A
  double timeUs = 0;
  double algBw = 0;
  double busBw = 0;
  bool checked = false;  // false: the #wrong column reads N/A
  int64_t wrong = 0;
  const char* algorithm = "";  // what the timed calls ran (braidCommLastAlgorithm)
};

// nccl-tests' text report on stdout plus the -J JSON file; both come from rank 0 only.
class Report {
 public:
  Report(const Options& options, bool isRoot);
  ~Report();
  Report(const Report&) = delete;
  Report& operator=(const Report&) = delete;

  // Creates the -J file (as a new file: an existing one gets a .N suffix, as in nccl-tests).
  void openJson();
  void printPreamble(const std::vector<RankInfo>& ranks);
  void printTableHeader();
  void beginRow(const RowKey& key);
  void addMeasurement(const Measurement& measurement, bool inPlace);
  void endRow();
  // The summary lines; also writes and closes the JSON file.
  void printFooter(int errors, double avgBusBw, std::optional<double> minBusBw);

 private:
  struct Row {
    RowKey key;
    std::string type;
    std::string op;
    Measurement outOfPlace;
    Measurement inPlace;
  };
  void writeJson(int errors, double avgBusBw, std::optional<double> minBusBw);

  const Options& options_;
  bool isRoot_;
  FILE* json_ = nullptr;
  std::string startTime_;
  int worldSize_ = 1;
  std::vector<RankInfo> ranks_;
  std::vector<Row> rows_;
};

}  // namespace braid::bench

#endif  // BRAID_BENCH_HARNESS_H_
