#include "staging.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

size_t Staging::grown(size_t cap, size_t bytes) {
  // Double (amortised growth), at least 1 MiB, rounded to 1 MiB.
  size_t n = cap * 2 > bytes ? cap * 2 : bytes;
  if (n < (size_t(1) << 20)) n = size_t(1) << 20;
  return (n + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
}

unsigned char* Staging::host(size_t bytes) {
  if (bytes <= hostCap_ && host_) return host_;
  size_t n = grown(hostCap_, bytes);
  if (host_) cu_.cuMemFreeHost(host_);
  host_ = nullptr;
  hostCap_ = 0;
  void* p = nullptr;
  cuCheck(cu_.cuMemHostAlloc(&p, n, 0x01 /* CU_MEMHOSTALLOC_PORTABLE */), "cuMemHostAlloc");
  host_ = static_cast<unsigned char*>(p);
  hostCap_ = n;
  return host_;
}

CUdeviceptr Staging::device(size_t bytes) {
  if (bytes <= devCap_ && dev_) return dev_;
  size_t n = grown(devCap_, bytes);
  if (dev_) cu_.cuMemFree_v2(dev_);
  dev_ = 0;
  devCap_ = 0;
  cuCheck(cu_.cuMemAlloc_v2(&dev_, n), "cuMemAlloc");
  devCap_ = n;
  return dev_;
}

void Staging::release() {
  if (host_) cu_.cuMemFreeHost(host_);
  if (dev_) cu_.cuMemFree_v2(dev_);
  host_ = nullptr;
  dev_ = 0;
  hostCap_ = devCap_ = 0;
}

namespace resultPool {
namespace {
constexpr size_t kMin = size_t(64) << 10, kMaxCached = size_t(512) << 20;
std::mutex mu;
std::map<size_t, std::vector<unsigned char*>> freeBlocks;  // capacity -> blocks
size_t cached = 0;
}  // namespace

unsigned char* take(size_t bytes, size_t* capacity) {
  size_t cap = bytes;
  if (bytes >= kMin) {
    for (cap = kMin; cap < bytes; cap *= 2) {}
    std::lock_guard<std::mutex> lock(mu);
    auto it = freeBlocks.find(cap);
    if (it != freeBlocks.end() && !it->second.empty()) {
      unsigned char* p = it->second.back();
      it->second.pop_back();
      cached -= cap;
      *capacity = cap;
      return p;
    }
  }
  *capacity = cap;
  return static_cast<unsigned char*>(std::malloc(cap));
}

void give(unsigned char* p, size_t capacity) {
  if (capacity >= kMin) {
    std::lock_guard<std::mutex> lock(mu);
    if (cached + capacity <= kMaxCached) {
      freeBlocks[capacity].push_back(p);
      cached += capacity;
      return;
    }
  }
  std::free(p);
}
}  // namespace resultPool
