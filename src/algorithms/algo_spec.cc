// The BRAID_ALGO parser (grammar in algo_spec.h). Every part of the string is checked, including
// rules for collectives the current call is not, so a typo fails the first call whatever it is.
#include "algorithms/algo_spec.h"

#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/params.h"

namespace braid {

namespace {

constexpr struct {
  const char* key;
  OpKind kind;
} kCollectives[] = {
    {"allreduce", OpKind::kAllReduce},
    {"broadcast", OpKind::kBroadcast},
    {"reduce", OpKind::kReduce},
    {"allgather", OpKind::kAllGather},
    {"reducescatter", OpKind::kReduceScatter},
    {"alltoall", OpKind::kAlltoAll},
    {"barrier", OpKind::kBarrier},
};

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    size_t at = text.find(sep);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

const Algorithm& algorithmNamed(std::string_view name) {
  for (const Algorithm& a : algorithms()) {
    if (name == a.name) return a;
  }
  std::string known;
  for (const Algorithm& a : algorithms())
    known += std::string(known.empty() ? "" : ", ") + a.name;
  fail(braidInvalidArgument, "BRAID_ALGO: unknown algorithm '", name, "' (known: ", known, ")");
}

OpKind collectiveNamed(std::string_view key) {
  for (const auto& c : kCollectives) {
    if (key == c.key) return c.kind;
  }
  fail(braidInvalidArgument, "BRAID_ALGO: unknown collective '", key,
       "' (known: allreduce, broadcast, reduce, allgather, reducescatter, alltoall, barrier)");
}

const Algorithm& algorithmFor(OpKind kind, std::string_view key, std::string_view name) {
  const Algorithm& a = algorithmNamed(name);
  if (!a.serves(kind)) {
    fail(braidInvalidArgument, "BRAID_ALGO: algorithm '", name, "' does not serve ", key);
  }
  return a;
}

size_t rangeBound(std::string_view text, std::string_view range) {
  int64_t v = 0;
  if (text == "inf") return SIZE_MAX;
  if (text.empty() || text.front() == '-' || !parseSize(text, &v)) {
    fail(braidInvalidArgument, "BRAID_ALGO: bad size '", text, "' in range '", range,
         "' (a byte count with an optional K, M or G suffix, or inf)");
  }
  return static_cast<size_t>(v);
}

// "coll:lo-hi=name,lo-hi=name": one rule per range.
void parseRanges(OpKind kind, std::string_view key, std::string_view ranges,
                 std::vector<AlgoRule>* rules) {
  size_t first = rules->size();
  for (std::string_view part : split(ranges, ',')) {
    size_t eq = part.find('=');
    size_t dash = part.find('-');
    if (eq == std::string_view::npos || dash == std::string_view::npos || dash > eq) {
      fail(braidInvalidArgument, "BRAID_ALGO: '", part, "' in the rule for ", key,
           " is not lo-hi=algorithm");
    }
    std::string_view range = part.substr(0, eq);
    size_t lo = rangeBound(range.substr(0, dash), range);
    size_t hi = rangeBound(range.substr(dash + 1), range);
    if (lo >= hi) fail(braidInvalidArgument, "BRAID_ALGO: range '", range, "' is empty");
    for (size_t i = first; i < rules->size(); ++i) {
      const AlgoRule& other = (*rules)[i];
      if (lo < other.maxBytes && other.minBytes < hi) {
        fail(braidInvalidArgument, "BRAID_ALGO: range '", range, "' overlaps another range for ",
             key);
      }
    }
    rules->push_back(AlgoRule{false, kind, lo, hi, &algorithmFor(kind, key, part.substr(eq + 1))});
  }
}

}  // namespace

std::vector<AlgoRule> parseAlgoSpec(std::string_view spec) {
  std::vector<AlgoRule> rules;
  for (std::string_view item : split(spec, ';')) {
    if (item.empty()) continue;
    size_t colon = item.find(':');
    size_t eq = item.find('=');
    if (colon != std::string_view::npos && (eq == std::string_view::npos || colon < eq)) {
      std::string_view key = item.substr(0, colon);
      parseRanges(collectiveNamed(key), key, item.substr(colon + 1), &rules);
    } else if (eq != std::string_view::npos) {
      std::string_view key = item.substr(0, eq);
      OpKind kind = collectiveNamed(key);
      rules.push_back(
          AlgoRule{false, kind, 0, SIZE_MAX, &algorithmFor(kind, key, item.substr(eq + 1))});
    } else {
      rules.push_back(AlgoRule{true, OpKind::kBarrier, 0, SIZE_MAX, &algorithmNamed(item)});
    }
  }
  return rules;
}

const Algorithm* forcedAlgorithm(const std::vector<AlgoRule>& rules, OpKind kind, size_t bytes) {
  const Algorithm* chosen = nullptr;
  for (const AlgoRule& rule : rules) {
    bool forThis = rule.anyCollective ? rule.algorithm->serves(kind) : rule.kind == kind;
    if (forThis && rule.minBytes <= bytes && bytes < rule.maxBytes) chosen = rule.algorithm;
  }
  return chosen;
}

}  // namespace braid
