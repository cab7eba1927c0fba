// common.cc: benchMain(), the run every *_perf benchmark shares.
//
// It follows nccl-tests step for step so that its numbers mean the same thing. For each type, op
// and root it warms up at the largest and the smallest size; then, for each size, out of place and
// then in place: one untimed call, a barrier, `iters` timed iterations of `agg` calls (one group
// per iteration), the per-call time combined over ranks as -a says, and `check` more calls whose
// output is compared with the exact expected values. Buffers are as large as the largest size and
// successive calls walk through them, so small sizes do not keep hitting the same cache lines.
//
// Ranks come from the environment (braidrun, torchrun, Slurm, or mpirun plus BRAID_COMM_ID); with
// none of those variables set the benchmark runs as a single rank. Built with MPI
// (BRAID_BENCH_HAVE_MPI), a benchmark started by mpirun without BRAID_COMM_ID joins through
// MPI_Init and braidCommInitMpi instead, so `mpirun -np N all_reduce_perf` needs nothing else.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "harness.h"

#ifdef BRAID_BENCH_HAVE_MPI
#include "collectives/braid_mpi.h"
#endif

namespace braid::bench {

void failBraidCall(braidResult_t result, braidComm_t comm, const char* file, int line) {
  const char* slash = std::strrchr(file, '/');
  const char* detail = braidGetLastError(comm);
  std::fflush(stdout);
  std::fprintf(stderr, "braid error in %s:%d '%s' : %s\n", slash ? slash + 1 : file, line,
               braidGetErrorString(result), detail ? detail : "");
  std::exit(1);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Joining the communicator
// ---------------------------------------------------------------------------------------------
enum class Launcher {
  kSingleProcess,  // nothing says there are other ranks
  kEnvironment,    // braidrun, torchrun or srun: RANK/WORLD_SIZE or SLURM_*
  kMpi,            // mpirun/mpiexec: OMPI_COMM_WORLD_* or PMI_*
};

const char* envValue(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

Launcher detectLauncher() {
  // A launcher that says the world has a single rank needs no rendezvous at all.
  for (const char* size : {"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}) {
    if (const char* value = envValue(size)) {
      if (std::strcmp(value, "1") == 0) return Launcher::kSingleProcess;
      break;
    }
  }
  for (const char* name :
       {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE"}) {
    if (envValue(name)) return Launcher::kMpi;
  }
  for (const char* name : {"RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"}) {
    if (envValue(name)) return Launcher::kEnvironment;
  }
  return Launcher::kSingleProcess;
}

#ifdef BRAID_BENCH_HAVE_MPI
// Whether this process called MPI_Init, and so must call MPI_Finalize before it exits normally.
// An exit on error skips MPI_Finalize on purpose: mpirun then ends the job's other ranks.
bool mpiStartedHere = false;

void initMpiOnce() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return;
  if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) {
    std::fprintf(stderr, "MPI_Init failed\n");
    std::exit(1);
  }
  mpiStartedHere = true;
}
#endif

void finalizeMpiIfStarted() {
#ifdef BRAID_BENCH_HAVE_MPI
  if (mpiStartedHere) MPI_Finalize();
  mpiStartedHere = false;
#endif
}

braidComm_t initCommunicator(const Options& options) {
  braidConfig_t config = BRAID_CONFIG_INITIALIZER;
  if (options.timeoutSec >= 0) {
    config.timeoutMs = options.timeoutSec > INT_MAX / 1000 ? INT_MAX : options.timeoutSec * 1000;
  }
  config.commName = options.program.c_str();
  braidComm_t comm = nullptr;
  switch (detectLauncher()) {
    case Launcher::kSingleProcess: {
      braidUniqueId id;
      BRAID_BENCH_CHECK(nullptr, braidGetUniqueId(&id));
      BRAID_BENCH_CHECK(nullptr, braidCommInitRankConfig(&comm, 1, id, 0, &config));
      break;
    }
    case Launcher::kMpi:
#ifdef BRAID_BENCH_HAVE_MPI
      // An explicit BRAID_COMM_ID keeps the environment rendezvous (as without MPI); otherwise
      // MPI carries the unique id and the benchmark's ranks are the MPI ranks.
      if (!envValue("BRAID_COMM_ID")) {
        initMpiOnce();
        BRAID_BENCH_CHECK(nullptr, braidCommInitMpiConfig(MPI_COMM_WORLD, &comm, &config));
        break;
      }
#endif
      // Built without MPI: the launcher's rank variables reach the library through
      // braidCommInitFromEnv, which also needs BRAID_COMM_ID=host:port from the user.
      BRAID_BENCH_CHECK(nullptr, braidCommInitFromEnv(&comm, &config));
      break;
    case Launcher::kEnvironment:
      BRAID_BENCH_CHECK(nullptr, braidCommInitFromEnv(&comm, &config));
      break;
  }
  return comm;
}

// ---------------------------------------------------------------------------------------------
// Buffer memory
// ---------------------------------------------------------------------------------------------
class HostBufferSpace final : public BufferSpace {
 public:
  const char* name() const override { return "host"; }
  void* allocate(size_t bytes) override {
    void* buffer = nullptr;
    // Page alignment: what cudaMalloc would give, and no rank starts with a misaligned buffer.
    if (posix_memalign(&buffer, 4096, std::max<size_t>(bytes, 1)) != 0) return nullptr;
    // Touch every page now, so first-touch page faults stay out of the timed loop.
    std::memset(buffer, 0, bytes);
    return buffer;
  }
  void release(void* buffer) override { std::free(buffer); }
  std::string deviceTag() const override { return "host"; }
  std::string deviceName() const override { return "CPU"; }
  int deviceIndex() const override { return -1; }
  std::byte* map(void* buffer, size_t) override { return static_cast<std::byte*>(buffer); }
  void unmap(void*, std::byte*, size_t, bool) override {}
  braidStream_t stream() const override { return nullptr; }
  void synchronize() override {}
};

// --host, --device, or device memory where there is a GPU and host memory elsewhere.
std::unique_ptr<BufferSpace> makeBufferSpace(MemoryKind kind) {
  if (kind != MemoryKind::kHost) {
    std::unique_ptr<BufferSpace> device = makeDeviceBufferSpace(kind == MemoryKind::kDevice);
    if (device || kind == MemoryKind::kDevice) return device;
  }
  return std::make_unique<HostBufferSpace>();
}

// How this rank reaches the others, e.g. "shm:1,tcp:2" (peers per transport, in first-seen order).
std::string transportSummary(braidComm_t comm, int rank, int nranks) {
  std::vector<std::pair<std::string, int>> counts;
  for (int peer = 0; peer < nranks; ++peer) {
    if (peer == rank) continue;
    const char* name = "";
    BRAID_BENCH_CHECK(comm, braidCommPeerTransport(comm, peer, &name));
    auto it = std::find_if(counts.begin(), counts.end(), [&](auto& c) { return c.first == name; });
    if (it == counts.end()) {
      counts.emplace_back(name, 1);
    } else {
      ++it->second;
    }
  }
  std::string summary;
  for (const auto& [name, n] : counts) {
    summary += (summary.empty() ? "" : ",") + name + ":" + std::to_string(n);
  }
  return summary;
}

// Every rank's pid, host, device and transports, gathered so rank 0 can print the "Using devices"
// block and record them in the JSON file.
std::vector<RankInfo> gatherRankInfo(braidComm_t comm, int rank, int nranks,
                                     const BufferSpace& space) {
  struct Record {
    int32_t pid;
    int32_t device;
    char hostname[256];
    char transports[128];
  };
  Record mine{};
  mine.pid = static_cast<int32_t>(getpid());
  mine.device = space.deviceIndex();
  gethostname(mine.hostname, sizeof mine.hostname - 1);
  // nccl-tests shows the short host name.
  if (char* dot = std::strchr(mine.hostname, '.')) *dot = '\0';
  const std::string transports = transportSummary(comm, rank, nranks);
  std::snprintf(mine.transports, sizeof mine.transports, "%s", transports.c_str());
  std::vector<Record> all(static_cast<size_t>(nranks));
  BRAID_BENCH_CHECK(comm,
                    braidAllGather(&mine, all.data(), sizeof(Record), braidUint8, comm, nullptr));
  std::vector<RankInfo> ranks;
  for (int r = 0; r < nranks; ++r) {
    const Record& record = all[static_cast<size_t>(r)];
    const std::string hostname(record.hostname, strnlen(record.hostname, sizeof record.hostname));
    const std::string transports(record.transports,
                                 strnlen(record.transports, sizeof record.transports));
    ranks.push_back(RankInfo{r, record.pid, hostname, record.device, space.deviceTag(),
                             space.deviceName(), transports});
  }
  return ranks;
}

// ---------------------------------------------------------------------------------------------
// The sweep
// ---------------------------------------------------------------------------------------------
class Runner {
 public:
  Runner(const Options& options, const Collective& collective, braidComm_t comm, int rank,
         int nranks, BufferSpace& space, Report& report)
      : options_(options),
        collective_(collective),
        comm_(comm),
        rank_(rank),
        nranks_(nranks),
        space_(space),
        report_(report) {}
  ~Runner() {
    if (send_) space_.release(send_);
    if (recv_) space_.release(recv_);
  }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  void allocate();
  void runAll();
  int localErrors() const { return errors_; }
  double averageBusBw() const { return bwCount_ ? bwSum_ / bwCount_ : 0.0; }

 private:
  void timeTest(const TypeInfo& type, braidRedOp_t op, const char* opName, int root);
  Measurement benchTime(const TypeInfo& type, braidRedOp_t op, int root, bool inPlace);
  void setSize(size_t bytes, const TypeInfo& type);
  void startCall(const TypeInfo& type, braidRedOp_t op, int root, bool inPlace, size_t iter,
                 bool grouped);
  void fill(const TypeInfo& type, braidRedOp_t op, bool inPlace);
  int64_t countWrong(const TypeInfo& type, braidRedOp_t op, int root, bool inPlace);
  double combineTime(double seconds);
  void barrier() { BRAID_BENCH_CHECK(comm_, braidBarrier(comm_, nullptr)); }

  const Options& options_;
  const Collective& collective_;
  braidComm_t comm_;
  int rank_;
  int nranks_;
  BufferSpace& space_;
  Report& report_;

  std::byte* send_ = nullptr;
  std::byte* recv_ = nullptr;
  size_t bufferBytes_ = 0;

  Counts counts_;
  size_t sendBytes_ = 0;
  size_t recvBytes_ = 0;
  std::optional<Pattern> pattern_;
  uint64_t seed_ = 1;

  int errors_ = 0;
  double bwSum_ = 0;
  int bwCount_ = 0;
};

void Runner::allocate() {
  // The largest size fits every type's buffers: counts only ever round down.
  bufferBytes_ = std::max<size_t>(options_.maxBytes, 1);
  send_ = static_cast<std::byte*>(space_.allocate(bufferBytes_));
  recv_ = static_cast<std::byte*>(space_.allocate(bufferBytes_));
  if (!send_ || !recv_) {
    std::fprintf(stderr, "%s: cannot allocate 2 x %zu bytes of %s memory\n",
                 options_.program.c_str(), bufferBytes_, space_.name());
    std::exit(1);
  }
}

void Runner::runAll() {
  std::vector<const TypeInfo*> types;
  for (const TypeInfo& type : allTypes()) {
    if (options_.type == kAll || options_.type == type.type) types.push_back(&type);
  }
  std::vector<OpInfo> ops;
  if (collective_.showsOp) {
    for (const OpInfo& op : allOps()) {
      if (options_.op == kAll || options_.op == op.op) ops.push_back(op);
    }
  } else {
    ops.push_back(OpInfo{braidSum, "none"});
  }
  std::vector<int> roots;
  if (!collective_.rooted) {
    roots.push_back(-1);
  } else if (options_.root == kAll) {
    for (int r = 0; r < nranks_; ++r) {
      roots.push_back(r);
    }
  } else {
    roots.push_back(options_.root);
  }
  for (const TypeInfo* type : types) {
    for (const OpInfo& op : ops) {
      for (int root : roots) {
        timeTest(*type, op.op, op.name, root);
      }
    }
  }
}

void Runner::setSize(size_t bytes, const TypeInfo& type) {
  counts_ = collective_.counts(bytes / type.size, type.size, nranks_);
  sendBytes_ = counts_.sendCount * type.size;
  recvBytes_ = counts_.recvCount * type.size;
}

void Runner::timeTest(const TypeInfo& type, braidRedOp_t op, const char* opName, int root) {
  barrier();
  // Warm up at both ends of the sweep, so neither pays for first-use costs (connections, pools).
  for (size_t bytes : {options_.maxBytes, options_.minBytes}) {
    setSize(bytes, type);
    for (int iter = 0; iter < options_.warmupIters; ++iter) {
      startCall(type, op, root, false, static_cast<size_t>(iter), false);
    }
  }
  for (size_t bytes = options_.minBytes; bytes <= options_.maxBytes;) {
    setSize(bytes, type);
    report_.beginRow(
        RowKey{std::max(sendBytes_, recvBytes_), counts_.paramCount, type.name, opName, root});
    report_.addMeasurement(benchTime(type, op, root, false), false);
    report_.addMeasurement(benchTime(type, op, root, true), true);
    report_.endRow();
    const size_t next =
        options_.stepFactor > 1 ? bytes * options_.stepFactor : bytes + options_.stepBytes;
    // Stop where the next size would not grow (a zero step, -b 0 with -f, or overflow).
    if (next <= bytes || (options_.stepFactor > 1 && next / options_.stepFactor != bytes)) break;
    bytes = next;
  }
}

void Runner::startCall(const TypeInfo& type, braidRedOp_t op, int root, bool inPlace, size_t iter,
                       bool grouped) {
  // Successive calls use successive slices of the buffers (nccl-tests does the same).
  const size_t span = std::max(sendBytes_, recvBytes_);
  const size_t slices = span ? std::max<size_t>(bufferBytes_ / span, 1) : 1;
  const size_t shift = span * (iter % slices);
  std::byte* recv = recv_ + shift;
  RunArgs args{};
  args.sendbuff = send_ + shift;
  args.recvbuff = recv;
  if (inPlace) {
    args.sendbuff = recv + counts_.sendInPlaceOffset * static_cast<size_t>(rank_) * type.size;
    args.recvbuff = recv + counts_.recvInPlaceOffset * static_cast<size_t>(rank_) * type.size;
  }
  args.count = counts_.paramCount;
  args.type = type.type;
  args.op = op;
  args.root = root;
  args.rank = rank_;
  args.nranks = nranks_;
  args.comm = comm_;
  args.stream = space_.stream();
  collective_.run(args);
  if (options_.blocking == 1 && !grouped) barrier();
}

Measurement Runner::benchTime(const TypeInfo& type, braidRedOp_t op, int root, bool inPlace) {
  Measurement m;
  if (inPlace && collective_.inPlace == InPlace::kUnsupported) return m;
  if (options_.check > 0) fill(type, op, inPlace);

  startCall(type, op, root, inPlace, 0, false);
  barrier();
  const auto start = std::chrono::steady_clock::now();
  for (int iter = 0; iter < options_.iters; ++iter) {
    const bool grouped = options_.aggIters > 1;
    if (grouped) BRAID_BENCH_CHECK(comm_, braidGroupStart());
    for (int a = 0; a < options_.aggIters; ++a) {
      startCall(type, op, root, inPlace,
                static_cast<size_t>(iter) * static_cast<size_t>(options_.aggIters) +
                    static_cast<size_t>(a),
                grouped);
    }
    if (grouped) {
      BRAID_BENCH_CHECK(comm_, braidGroupEnd());
      if (options_.blocking == 1) barrier();
    }
  }
  // Host-buffer calls are complete when they return; device-buffer calls when their stream is.
  space_.synchronize();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  BRAID_BENCH_CHECK(comm_, braidCommLastAlgorithm(comm_, &m.algorithm));
  const double seconds =
      combineTime(elapsed.count() / (static_cast<double>(options_.iters) * options_.aggIters));

  m.ran = true;
  m.timeUs = seconds * 1.0e6;
  m.algBw = collective_.algBytes(counts_, type.size, nranks_) / 1.0e9 / seconds;
  m.busBw = m.algBw * collective_.busFactor(nranks_);
  m.checked = options_.check > 0 && !(inPlace && collective_.inPlace == InPlace::kUnchecked);
  for (int c = 0; m.checked && c < options_.check; ++c) {
    fill(type, op, inPlace);
    startCall(type, op, root, inPlace, 0, false);
    space_.synchronize();
    int64_t wrong = countWrong(type, op, root, inPlace);
    if (wrong) ++errors_;
    BRAID_BENCH_CHECK(comm_,
                      braidAllReduce(&wrong, &wrong, 1, braidInt64, braidSum, comm_, nullptr));
    m.wrong = wrong;
    if (wrong) break;
  }
  bwSum_ += m.busBw;
  ++bwCount_;
  return m;
}

double Runner::combineTime(double seconds) {
  switch (options_.average) {
    case 0:
      BRAID_BENCH_CHECK(comm_,
                        braidBroadcast(&seconds, &seconds, 1, braidFloat64, 0, comm_, nullptr));
      return seconds;
    case 2:
      BRAID_BENCH_CHECK(
          comm_, braidAllReduce(&seconds, &seconds, 1, braidFloat64, braidMin, comm_, nullptr));
      return seconds;
    case 3:
      BRAID_BENCH_CHECK(
          comm_, braidAllReduce(&seconds, &seconds, 1, braidFloat64, braidMax, comm_, nullptr));
      return seconds;
    default:
      BRAID_BENCH_CHECK(
          comm_, braidAllReduce(&seconds, &seconds, 1, braidFloat64, braidSum, comm_, nullptr));
      return seconds / nranks_;
  }
}

void Runner::fill(const TypeInfo& type, braidRedOp_t op, bool inPlace) {
  pattern_.emplace(makePattern(type, op, collective_.reduces, nranks_, seed_++));
  // In place, the input shares the receive buffer; poison all of it first, then write the input.
  const size_t recvSpan = inPlace ? std::max(sendBytes_, recvBytes_) : recvBytes_;
  std::byte* recv = space_.map(recv_, recvSpan);
  std::memset(recv, kPoisonByte, recvSpan);
  std::byte* input = recv + counts_.sendInPlaceOffset * static_cast<size_t>(rank_) * type.size;
  if (!inPlace) input = space_.map(send_, sendBytes_);
  for (size_t i = 0; i < counts_.sendCount; ++i) {
    storeElement(type, input, i, pattern_->input(rank_, i));
  }
  if (!inPlace) space_.unmap(send_, input, sendBytes_, true);
  space_.unmap(recv_, recv, recvSpan, true);
}

int64_t Runner::countWrong(const TypeInfo& type, braidRedOp_t op, int root, bool inPlace) {
  const size_t offset =
      inPlace ? counts_.recvInPlaceOffset * static_cast<size_t>(rank_) * type.size : 0;
  std::byte* output = space_.map(recv_ + offset, recvBytes_);
  const Layout layout{rank_, nranks_, root, counts_};
  const bool average = collective_.reduces && op == braidAvg;
  int64_t wrong = 0;
  for (size_t i = 0; i < counts_.recvCount; ++i) {
    int64_t want = 0;
    if (!collective_.expected(*pattern_, layout, i, &want)) continue;
    if (!elementMatches(type, output, i, want, average, nranks_)) ++wrong;
  }
  space_.unmap(recv_ + offset, output, recvBytes_, false);
  return wrong;
}

std::optional<double> minimumBusBw() {
  const char* text = envValue("BRAID_TESTS_MIN_BW");
  if (!text) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text) {
    std::fprintf(stderr, "BRAID_TESTS_MIN_BW='%s' is not a number; ignoring it\n", text);
    return std::nullopt;
  }
  return value;
}

}  // namespace

int benchMain(int argc, char** argv, const Collective& collective) {
  // Line-buffered like nccl-tests, so a long sweep shows each row as it completes.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const Options options = parseOptions(argc, argv);
  std::unique_ptr<BufferSpace> space = makeBufferSpace(options.memory);
  if (!space) return 2;  // --device without a GPU: makeDeviceBufferSpace said why

  braidComm_t comm = initCommunicator(options);
  int rank = 0;
  int nranks = 1;
  BRAID_BENCH_CHECK(comm, braidCommUserRank(comm, &rank));
  BRAID_BENCH_CHECK(comm, braidCommCount(comm, &nranks));
  if (collective.rooted && options.root != kAll && options.root >= nranks) {
    if (rank == 0) {
      std::fprintf(stderr, "%s: invalid root %d: the communicator has %d ranks\n",
                   options.program.c_str(), options.root, nranks);
    }
    std::exit(2);
  }

  Report report(options, rank == 0);
  report.openJson();
  report.printPreamble(gatherRankInfo(comm, rank, nranks, *space));
  const std::optional<double> minBusBw = minimumBusBw();

  int errors = 0;
  double avgBusBw = 0;
  {
    Runner runner(options, collective, comm, rank, nranks, *space, report);
    runner.allocate();
    report.printTableHeader();
    runner.runAll();
    errors = runner.localErrors();
    avgBusBw = runner.averageBusBw();
  }
  BRAID_BENCH_CHECK(comm, braidAllReduce(&errors, &errors, 1, braidInt32, braidSum, comm, nullptr));
  report.printFooter(errors, avgBusBw, minBusBw);

  BRAID_BENCH_CHECK(comm, braidCommFinalize(comm));
  BRAID_BENCH_CHECK(nullptr, braidCommDestroy(comm));
  finalizeMpiIfStarted();
  const bool tooSlow = minBusBw && avgBusBw < *minBusBw;
  return errors != 0 || tooSlow ? 1 : 0;
}

}  // namespace braid::bench
