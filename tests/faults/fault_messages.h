// Reading fault_worker's messages, shared by the worker and fault_test: whether an error message
// names a rank ("rank 2", or one of a list: "ranks 0,2 of 3").
#pragma once

#include <cctype>
#include <string>

namespace braid::test {

// True when text says "rank R" or "ranks A,B,..." with R among the numbers.
inline bool mentionsRank(const std::string& text, int rank) {
  for (size_t at = text.find("rank"); at != std::string::npos; at = text.find("rank", at + 1)) {
    size_t i = at + 4;
    if (i < text.size() && text[i] == 's') ++i;
    if (i >= text.size() || text[i] != ' ') continue;
    ++i;
    // A list of numbers separated by commas.
    for (;;) {
      size_t start = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
        ++i;
      if (i == start) break;
      if (std::stoi(text.substr(start, i - start)) == rank) return true;
      if (i < text.size() && text[i] == ',') {
        ++i;
        continue;
      }
      break;
    }
  }
  return false;
}

}  // namespace braid::test
