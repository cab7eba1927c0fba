// The registry of BRAID_* settings: every environment variable Braid reads is declared once in
// params.cc with its default and a one-line doc. braid-info and the README table are generated
// from it, so the documentation cannot drift from the code.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace braid {

struct ParamSpec {
  const char* name;
  const char* defaultValue;  // "" means unset
  const char* doc;
};

std::span<const ParamSpec> allParams();

// The variable's value from the environment, else its default. Asking for a name that is not in
// the registry is a bug (braidInternalError).
std::string paramString(std::string_view name);
// As paramString, parsed as an integer with an optional K/M/G (x1024) suffix; a malformed value
// is braidInvalidArgument naming the variable.
int64_t paramInt(std::string_view name);

// Parses "123", "64K", "1M", "2G" (binary multiples). Returns false when malformed.
bool parseSize(std::string_view text, int64_t* value);

}  // namespace braid
