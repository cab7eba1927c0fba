// DeviceProxy in a build without CUDA: device buffers are refused before a proxy is made, so
// every member but available() is unreachable and fails loudly if reached.
#include "core/error.h"
#include "cuda/device_proxy.h"

namespace braid {

struct DeviceProxy::Impl {};

bool DeviceProxy::available() {
  return false;
}

DeviceProxy::DeviceProxy(int, int64_t) {
  fail(braidInternalError, "this build of Braid has no CUDA support");
}

DeviceProxy::~DeviceProxy() = default;

void DeviceProxy::enqueue(void*, const std::vector<DeviceSpan>&, Work) {
  fail(braidInternalError, "this build of Braid has no CUDA support");
}

std::unique_lock<std::mutex> DeviceProxy::exclusive() {
  return {};
}

std::unique_lock<std::mutex> DeviceProxy::hold() {
  return {};
}

void DeviceProxy::abort() {}

}  // namespace braid
