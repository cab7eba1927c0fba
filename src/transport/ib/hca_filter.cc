// HcaFilter: BRAID_IB_HCA parsed once into items, then matched per (device, port).
#include "transport/ib/hca_filter.h"

#include <sstream>

#include "core/error.h"

namespace braid {

HcaFilter HcaFilter::parse(const std::string& text) {
  HcaFilter f;
  std::string list = text;
  f.exclude_ = !list.empty() && list[0] == '^';
  if (f.exclude_) list.erase(0, 1);
  f.exact_ = !list.empty() && list[0] == '=';
  if (f.exact_) list.erase(0, 1);
  std::stringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.empty()) continue;
    size_t colon = item.find(':');
    int port = 0;
    if (colon != std::string::npos) {
      std::string digits = item.substr(colon + 1);
      bool ok = !digits.empty() && digits.size() < 4 &&
                digits.find_first_not_of("0123456789") == std::string::npos;
      if (ok) port = std::stoi(digits);
      if (!ok || port < 1) {
        fail(braidInvalidArgument, "BRAID_IB_HCA='", text, "': '", item,
             "' has a bad port (device:port, ports count from 1)");
      }
      item.erase(colon);
    }
    f.items_.push_back(Item{item, port});
  }
  return f;
}

bool HcaFilter::itemMatches(const Item& item, const std::string& device, int port) const {
  bool name = exact_ ? device == item.name : device.compare(0, item.name.size(), item.name) == 0;
  return name && (item.port == 0 || item.port == port);
}

bool HcaFilter::allows(const std::string& device, int port) const {
  if (items_.empty()) return true;
  bool hit = false;
  for (const Item& item : items_)
    hit = hit || itemMatches(item, device, port);
  return exclude_ ? !hit : hit;
}

}  // namespace braid
