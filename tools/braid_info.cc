// braid-info: what this Braid is and how it is set up here: version, the interface it would use,
// the algorithms it has, and every BRAID_* parameter with its current value and doc.
// `braid-info --params-markdown` prints the README's parameter table (a test keeps them equal).
#include <cstdio>
#include <cstring>
#include <string>

#include "algorithms/algorithm.h"
#include "collectives/braid.h"
#include "core/error.h"
#include "core/params.h"
#include "transport/socket.h"

namespace {

void printMarkdown() {
  printf("| variable | default | meaning |\n|---|---|---|\n");
  for (const braid::ParamSpec& p : braid::allParams()) {
    printf("| `%s` | %s | %s |\n", p.name, *p.defaultValue ? p.defaultValue : "(unset)", p.doc);
  }
}

void printSummary() {
  printf("Braid %d.%d.%d\n\n", BRAID_MAJOR, BRAID_MINOR, BRAID_PATCH);
  try {
    std::string ifname;
    braid::SockAddr a = braid::chooseLocalAddress(&ifname);
    a.port = 0;
    printf("network interface: %s (%s)\n", ifname.c_str(), a.str().c_str());
  } catch (const braid::Error& e) {
    printf("network interface: none usable: %s\n", e.what());
  }
  printf("transports: tcp (every peer)\n\nalgorithms:\n");
  for (const braid::Algorithm& a : braid::algorithms()) {
    printf("  %-14s %s\n", a.name, a.description);
  }
  printf("\nparameters (current value, default, meaning):\n");
  for (const braid::ParamSpec& p : braid::allParams()) {
    std::string value = braid::paramString(p.name);
    printf("  %-22s = %-10s (default %s)\n      %s\n", p.name, value.empty() ? "''" : value.c_str(),
           *p.defaultValue ? p.defaultValue : "unset", p.doc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--params-markdown") == 0) {
    printMarkdown();
    return 0;
  }
  if (argc > 1) {
    fprintf(stderr, "usage: braid-info [--params-markdown]\n");
    return std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ? 0 : 2;
  }
  printSummary();
  return 0;
}
