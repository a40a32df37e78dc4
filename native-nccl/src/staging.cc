#include "staging.h"

size_t Staging::grown(size_t cap, size_t bytes) {
  // Double (amortised growth), at least 1 MiB, rounded to 1 MiB.
  size_t n = cap * 2 > bytes ? cap * 2 : bytes;
  if (n < (size_t(1) << 20)) n = size_t(1) << 20;
  return (n + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
}

unsigned char* Staging::host(size_t bytes) {
  if (bytes <= hostCap_ && host_) return host_;
  size_t n = grown(hostCap_, bytes);
  if (host_) cu_.memFreeHost(host_);
  host_ = nullptr;
  hostCap_ = 0;
  void* p = nullptr;
  cuCheck(cu_.memHostAlloc(&p, n, 0x01 /* CU_MEMHOSTALLOC_PORTABLE */), "cuMemHostAlloc");
  host_ = static_cast<unsigned char*>(p);
  hostCap_ = n;
  return host_;
}

CUdeviceptr Staging::device(size_t bytes) {
  if (bytes <= devCap_ && dev_) return dev_;
  size_t n = grown(devCap_, bytes);
  if (dev_) cu_.memFree(dev_);
  dev_ = 0;
  devCap_ = 0;
  cuCheck(cu_.memAlloc(&dev_, n), "cuMemAlloc");
  devCap_ = n;
  return dev_;
}

void Staging::release() {
  if (host_) cu_.memFreeHost(host_);
  if (dev_) cu_.memFree(dev_);
  host_ = nullptr;
  dev_ = 0;
  hostCap_ = devCap_ = 0;
}
