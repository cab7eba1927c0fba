// report.cc: nccl-tests' text report, and the same results as a JSON file (-J).
//
// The text follows nccl-tests 2.17 to the character: the "# nThread ..." parameter line, the
// "# Using devices" block, the two-level column header, one row per size with fixed-width columns
// (numbers shrink their precision to fit, as nccl-tests' do), and the "# Out of bounds values" and
// "# Avg bus bandwidth" summary. Tools that parse nccl-tests output therefore read it unchanged;
// Braid's own lines all start with '#', which such tools skip.
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>

#include "harness.h"

namespace braid::bench {
namespace {

// Writes value in `width` characters with as many decimals as fit (2, 1 or 0), switching to
// exponent notation beyond that: nccl-tests' rule, which keeps the columns aligned.
std::string fitNumber(double value, int width) {
  int digits = 0;
  for (double limit = 1; value >= limit && digits < 400; limit *= 10) {
    ++digits;
  }
  char text[64];
  if (digits < width - 2) {
    std::snprintf(text, sizeof text, "%*.2f", width, value);
  } else if (digits < width - 1) {
    std::snprintf(text, sizeof text, "%*.1f", width, value);
  } else if (digits < width + 1) {
    std::snprintf(text, sizeof text, "%*.0f", width, value);
  } else if (width >= 7) {
    std::snprintf(text, sizeof text, "%*.1e", width, value);
  } else {
    std::snprintf(text, sizeof text, "%*.0e", width, value);
  }
  return text;
}

std::string localTimeNow() {
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  localtime_r(&now, &parts);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &parts);
  return text;
}

std::string versionString(int code) {
  char text[32];
  std::snprintf(text, sizeof text, "%d.%d.%d", code / 10000, code / 100 % 100, code % 100);
  return text;
}

// Just enough of a JSON writer for the report: commas and escaping, nothing else.
class JsonWriter {
 public:
  const std::string& text() const { return text_; }

  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }
  void key(std::string_view name) {
    separate();
    quoted(name);
    text_ += ':';
    afterKey_ = true;
  }
  void string(std::string_view value) {
    separate();
    quoted(value);
  }
  void integer(long long value) {
    separate();
    text_ += std::to_string(value);
  }
  void number(double value) {
    separate();
    if (!std::isfinite(value)) {
      text_ += "null";
      return;
    }
    char digits[32];
    std::snprintf(digits, sizeof digits, "%.9g", value);
    text_ += digits;
  }
  void boolean(bool value) {
    separate();
    text_ += value ? "true" : "false";
  }
  void null() {
    separate();
    text_ += "null";
  }

 private:
  void open(char bracket) {
    separate();
    text_ += bracket;
    first_.push_back(true);
  }
  void close(char bracket) {
    first_.pop_back();
    text_ += bracket;
  }
  void separate() {
    if (afterKey_) {
      afterKey_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) text_ += ',';
    first_.back() = false;
  }
  void quoted(std::string_view value) {
    text_ += '"';
    for (const char c : value) {
      switch (c) {
        case '"':
          text_ += "\\\"";
          break;
        case '\\':
          text_ += "\\\\";
          break;
        case '\n':
          text_ += "\\n";
          break;
        case '\t':
          text_ += "\\t";
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            text_ += escaped;
          } else {
            text_ += c;
          }
      }
    }
    text_ += '"';
  }

  std::string text_;
  std::vector<bool> first_;
  bool afterKey_ = false;
};

void writeMeasurement(JsonWriter& json, const Measurement& m, bool cpuTime) {
  if (!m.ran) {
    json.null();
    return;
  }
  json.beginObject();
  json.key(cpuTime ? "cpu_time" : "time");
  json.number(m.timeUs);
  json.key("alg_bw");
  json.number(m.algBw);
  json.key("bus_bw");
  json.number(m.busBw);
  json.key("nwrong");
  if (m.checked) {
    json.integer(m.wrong);
  } else {
    json.null();
  }
  json.key("algorithm");
  json.string(m.algorithm);
  json.endObject();
}

}  // namespace

Report::Report(const Options& options, bool isRoot) : options_(options), isRoot_(isRoot) {
  startTime_ = localTimeNow();
}

Report::~Report() {
  if (json_) std::fclose(json_);
}

void Report::openJson() {
  if (!isRoot_ || options_.jsonPath.empty()) return;
  // Never overwrite an earlier run's results: take the first free name of path, path.0, ...
  std::string path = options_.jsonPath;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    json_ = std::fopen(path.c_str(), "wx");
    if (json_ || errno != EEXIST) break;
    path = options_.jsonPath + "." + std::to_string(attempt);
  }
  if (json_) {
    std::printf("# Writing JSON output to %s\n", path.c_str());
  } else {
    std::printf("# skipping json output; %s not accessible\n", path.c_str());
  }
}

void Report::printPreamble(const std::vector<RankInfo>& ranks) {
  ranks_ = ranks;
  worldSize_ = static_cast<int>(ranks.size());
  if (!isRoot_) return;
  int library = 0;
  if (braidGetVersion(&library) != braidSuccess) library = 0;
  std::printf("# braid-tests version %s braid-headers=%d braid-library=%d\n",
              versionString(BRAID_VERSION_CODE).c_str(), BRAID_VERSION_CODE, library);
  std::printf("# Collective test starting: %s\n", options_.program.c_str());
  const bool byFactor = options_.stepFactor > 1;
  std::printf(
      "# nThread %d nGpus %d minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d iters: %d "
      "agg iters: %d validation: %d graph: %d\n",
      options_.nThreads, options_.nGpus, options_.minBytes, options_.maxBytes,
      byFactor ? options_.stepFactor : options_.stepBytes, byFactor ? "factor" : "bytes",
      options_.warmupIters, options_.iters, options_.aggIters, options_.check, 0);
  if (options_.blocking == 1) {
    std::printf("# Blocking Enabled: wait for completion and barrier after each collective \n");
  } else if (options_.blocking > 1) {
    std::printf("# Blocking Enabled: wait for completion after each collective (no barrier) \n");
  }
  for (const std::string& note : options_.notes) {
    std::printf("# %s\n", note.c_str());
  }
  std::printf("#\n");
  std::printf("# Using devices\n");
  for (const RankInfo& rank : ranks) {
    std::printf("#  Rank %2d Group %2d Pid %6d on %10s device %2d [%s] %s\n", rank.rank, 0,
                rank.pid, rank.hostname.c_str(), rank.device, rank.deviceTag.c_str(),
                rank.deviceName.c_str());
  }
}

void Report::printTableHeader() {
  if (!isRoot_) return;
  const char* time = options_.reportCpuTime ? "cputime" : "time";
  std::printf("#\n");
  std::printf(
      "# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place"
      "          \n",
      "", "", "", "", "");
  std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s \n", "size",
              "count", "type", "redop", "root", time, "algbw", "busbw", "#wrong", time, "algbw",
              "busbw", "#wrong");
  std::printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s \n", "(B)",
              "(elements)", "", "", "", "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)",
              "");
}

void Report::beginRow(const RowKey& key) {
  rows_.push_back(Row{key, key.type, key.op, {}, {}});
  if (!isRoot_) return;
  std::printf("%12zu  %12zu  %8s  %6s  %6d", key.bytes, key.count, key.type, key.op, key.root);
}

void Report::addMeasurement(const Measurement& m, bool inPlace) {
  (inPlace ? rows_.back().inPlace : rows_.back().outOfPlace) = m;
  if (!isRoot_) return;
  if (!m.ran) {
    std::printf("  %7s  %6s  %6s    N/A", "N/A", "N/A", "N/A");
    return;
  }
  const std::string time = fitNumber(m.timeUs, 7);
  const std::string algBw = fitNumber(m.algBw, 6);
  const std::string busBw = fitNumber(m.busBw, 6);
  if (m.checked) {
    std::printf("  %7s  %6s  %6s  %6g", time.c_str(), algBw.c_str(), busBw.c_str(),
                static_cast<double>(m.wrong));
  } else {
    std::printf("  %7s  %6s  %6s    N/A", time.c_str(), algBw.c_str(), busBw.c_str());
  }
}

void Report::endRow() {
  if (isRoot_) std::printf("\n");
}

void Report::printFooter(int errors, double avgBusBw, std::optional<double> minBusBw) {
  if (!isRoot_) return;
  const char* verdict = !minBusBw ? "" : (avgBusBw < *minBusBw ? "FAILED" : "OK");
  std::printf("# %-20s : %d %s\n", "Out of bounds values", errors, errors ? "FAILED" : "OK");
  std::printf("# %-20s : %g %s\n", "Avg bus bandwidth", avgBusBw, verdict);
  std::printf("#\n");
  std::printf("# Collective test concluded: %s\n", options_.program.c_str());
  const char* lastError = braidGetLastError(nullptr);
  if (lastError && *lastError) {
    std::printf("# error: %s\n", lastError);
  } else {
    std::printf("\n");
  }
  writeJson(errors, avgBusBw, minBusBw);
}

void Report::writeJson(int errors, double avgBusBw, std::optional<double> minBusBw) {
  if (!json_) return;
  int library = 0;
  if (braidGetVersion(&library) != braidSuccess) library = 0;
  char hostname[256] = {};
  gethostname(hostname, sizeof hostname - 1);

  JsonWriter json;
  json.beginObject();
  json.key("version");
  json.integer(1);
  json.key("generator");
  json.string("braid-tests");
  json.key("program");
  json.string(options_.program);
  json.key("braid_version");
  json.integer(library);
  json.key("braid_headers");
  json.integer(BRAID_VERSION_CODE);
  json.key("start_time");
  json.string(startTime_);
  json.key("end_time");
  json.string(localTimeNow());
  json.key("hostname");
  json.string(hostname);
  json.key("world_size");
  json.integer(worldSize_);
  json.key("args");
  json.beginArray();
  for (const std::string& arg : options_.args) {
    json.string(arg);
  }
  json.endArray();

  json.key("config");
  json.beginObject();
  json.key("nthreads");
  json.integer(options_.nThreads);
  json.key("ngpus");
  json.integer(options_.nGpus);
  json.key("minimum_bytes");
  json.integer(static_cast<long long>(options_.minBytes));
  json.key("maximum_bytes");
  json.integer(static_cast<long long>(options_.maxBytes));
  if (options_.stepFactor > 1) {
    json.key("step_factor");
    json.integer(static_cast<long long>(options_.stepFactor));
  } else {
    json.key("step_bytes");
    json.integer(static_cast<long long>(options_.stepBytes));
  }
  json.key("warmup_iters");
  json.integer(options_.warmupIters);
  json.key("iterations");
  json.integer(options_.iters);
  json.key("aggregated_iterations");
  json.integer(options_.aggIters);
  json.key("validation");
  json.integer(options_.check);
  json.key("graph");
  json.integer(0);
  json.key("blocking_collectives");
  json.integer(options_.blocking);
  json.key("average");
  json.integer(options_.average);
  json.key("timeout_seconds");
  if (options_.timeoutSec >= 0) {
    json.integer(options_.timeoutSec);
  } else {
    json.null();
  }
  json.key("datatype");
  json.string(options_.type == kAll ? "all" : allTypes()[options_.type].name);
  json.key("op");
  json.string(options_.op == kAll ? "all" : allOps()[options_.op].name);
  json.key("root");
  if (options_.root == kAll) {
    json.string("all");
  } else {
    json.integer(options_.root);
  }
  json.key("memory");
  json.string(options_.memory == MemoryKind::kHost ? "host" : "device");
  json.endObject();

  json.key("ranks");
  json.beginArray();
  for (const RankInfo& rank : ranks_) {
    json.beginObject();
    json.key("rank");
    json.integer(rank.rank);
    json.key("group");
    json.integer(0);
    json.key("pid");
    json.integer(rank.pid);
    json.key("hostname");
    json.string(rank.hostname);
    json.key("device");
    json.integer(rank.device);
    json.key("device_tag");
    json.string(rank.deviceTag);
    json.key("device_info");
    json.string(rank.deviceName);
    json.key("transports");
    json.string(rank.transports);
    json.endObject();
  }
  json.endArray();

  json.key("results");
  json.beginArray();
  for (const Row& row : rows_) {
    json.beginObject();
    json.key("size");
    json.integer(static_cast<long long>(row.key.bytes));
    json.key("count");
    json.integer(static_cast<long long>(row.key.count));
    json.key("type");
    json.string(row.type);
    json.key("redop");
    json.string(row.op);
    json.key("root");
    json.integer(row.key.root);
    json.key("out_of_place");
    writeMeasurement(json, row.outOfPlace, options_.reportCpuTime);
    json.key("in_place");
    writeMeasurement(json, row.inPlace, options_.reportCpuTime);
    json.endObject();
  }
  json.endArray();

  json.key("out_of_bounds");
  json.beginObject();
  json.key("count");
  json.integer(errors);
  json.key("okay");
  json.boolean(errors == 0);
  json.endObject();
  json.key("average_bus_bandwidth");
  json.beginObject();
  json.key("bandwidth");
  json.number(avgBusBw);
  json.key("minimum");
  if (minBusBw) {
    json.number(*minBusBw);
  } else {
    json.null();
  }
  json.key("okay");
  if (minBusBw) {
    json.boolean(avgBusBw >= *minBusBw);
  } else {
    json.string("unchecked");
  }
  json.endObject();
  json.key("errors");
  json.beginArray();
  const char* lastError = braidGetLastError(nullptr);
  if (lastError && *lastError) json.string(lastError);
  json.endArray();
  json.endObject();

  std::fputs(json.text().c_str(), json_);
  std::fputc('\n', json_);
  std::fclose(json_);
  json_ = nullptr;
}

}  // namespace braid::bench
