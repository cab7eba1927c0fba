// BRAID_IB_HCA: which verbs devices and ports Braid may use, in the grammar NCCL users know.
//   "mlx5_0:1,mlx5_1"  a comma list of device names, each optionally ":port"
//   "^..."             the list names devices to leave out instead
//   "=..." / "^=..."   names match exactly instead of as prefixes ("mlx5" matches mlx5_0, mlx5_1)
// An empty filter allows every device and port. Parsing is separate from matching so the grammar
// is checked once, with an error naming the variable, and unit-tested without a device.
#pragma once

#include <string>
#include <vector>

namespace braid {

class HcaFilter {
 public:
  // Throws braidInvalidArgument for a malformed port ("mlx5_0:x", "mlx5_0:0").
  static HcaFilter parse(const std::string& text);

  // Whether `port` (1-based) of the device named `device` may be used.
  bool allows(const std::string& device, int port) const;

 private:
  struct Item {
    std::string name;
    int port;  // 0: any port
  };
  bool itemMatches(const Item& item, const std::string& device, int port) const;

  std::vector<Item> items_;
  bool exclude_ = false;
  bool exact_ = false;
};

}  // namespace braid
