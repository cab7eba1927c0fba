// BRAID_ALGO: the user's override of the algorithm choice, parsed into rules.
//
// Grammar: rules separated by ';', each one of
//   name                         every collective the algorithm serves, any size
//   coll=name                    that collective, any size
//   coll:lo-hi=name,lo-hi=name   that collective, by message size: lo <= bytes < hi
// where coll is allreduce, broadcast, reduce, allgather, reducescatter, alltoall or barrier, and
// lo and hi are byte counts with optional K, M or G suffixes (hi may be inf). A message's size is
// its largest buffer: count x type size, times the rank count for allgather, reducescatter and
// alltoall (the size column of the *_perf benchmarks). When several rules match a call, the last
// one wins; a call no rule matches gets the default choice.
// Example: allreduce:0-64K=recdbl,64K-inf=ring;broadcast=tree
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "algorithms/algorithm.h"

namespace braid {

struct AlgoRule {
  bool anyCollective;  // the bare-name form: every collective `algorithm` serves
  OpKind kind;         // when !anyCollective
  size_t minBytes;     // inclusive
  size_t maxBytes;     // exclusive; SIZE_MAX for inf
  const Algorithm* algorithm;
};

// Throws braidInvalidArgument, naming the offending part, for an unknown collective or algorithm,
// an algorithm that does not serve the collective named, a malformed or empty range, or
// overlapping ranges within one rule.
std::vector<AlgoRule> parseAlgoSpec(std::string_view spec);

// The algorithm the rules force for this call, or nullptr when none matches.
const Algorithm* forcedAlgorithm(const std::vector<AlgoRule>& rules, OpKind kind, size_t bytes);

}  // namespace braid
