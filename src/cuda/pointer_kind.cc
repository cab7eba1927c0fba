// memoryKind: asks the CUDA driver, loaded with dlopen so a build without CUDA runs everywhere.
#include "cuda/pointer_kind.h"

#include <dlfcn.h>

#include <cstdint>

namespace braid {

namespace {

// The driver API's values (cuda.h), stable across CUDA versions.
constexpr int kAttrMemoryType = 2;  // CU_POINTER_ATTRIBUTE_MEMORY_TYPE
constexpr int kAttrIsManaged = 8;   // CU_POINTER_ATTRIBUTE_IS_MANAGED
constexpr unsigned kMemoryTypeDevice = 2;

using CuInit = int (*)(unsigned);
using CuPointerGetAttribute = int (*)(void*, int, uintptr_t);

struct Driver {
  CuPointerGetAttribute getAttribute = nullptr;
  Driver() {
    void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return;
    auto init = reinterpret_cast<CuInit>(dlsym(lib, "cuInit"));
    auto get = reinterpret_cast<CuPointerGetAttribute>(dlsym(lib, "cuPointerGetAttribute"));
    if (init == nullptr || get == nullptr || init(0) != 0) return;
    getAttribute = get;
  }
};

}  // namespace

MemoryKind memoryKind(const void* ptr) {
  static const Driver driver;
  if (driver.getAttribute == nullptr || ptr == nullptr) return MemoryKind::kHost;
  unsigned type = 0;
  if (driver.getAttribute(&type, kAttrMemoryType, reinterpret_cast<uintptr_t>(ptr)) != 0) {
    return MemoryKind::kHost;  // not memory CUDA knows: plain host memory
  }
  int managed = 0;
  driver.getAttribute(&managed, kAttrIsManaged, reinterpret_cast<uintptr_t>(ptr));
  return type == kMemoryTypeDevice && managed == 0 ? MemoryKind::kDevice : MemoryKind::kHost;
}

}  // namespace braid
