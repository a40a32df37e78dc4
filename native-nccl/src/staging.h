// Pinned host and device staging buffers for one communicator, grown as needed (never
// shrunk until release). Used only on the communicator's worker thread, between operations
// (growing frees the old buffers, so the stream must be idle).
#pragma once
#include "api.h"

class Staging {
 public:
  explicit Staging(const CudaApi& cu) : cu_(cu) {}
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  ~Staging() { release(); }

  // At least `bytes` of page-locked host memory (cuMemHostAlloc).
  unsigned char* host(size_t bytes);
  // At least `bytes` of device memory (cuMemAlloc) on the current context's device.
  CUdeviceptr device(size_t bytes);
  void release();

 private:
  static size_t grown(size_t cap, size_t bytes);
  const CudaApi& cu_;
  unsigned char* host_ = nullptr;
  size_t hostCap_ = 0;
  CUdeviceptr dev_ = 0;
  size_t devCap_ = 0;
};

// Result memory handed to JS (as external ArrayBuffers), recycled when JS frees it: large
// fresh mallocs are mmap'd and page-faulted on every use, which cost more than the copy on
// the GPU host. Power-of-two blocks from 64 KiB, at most 512 MiB cached; thread-safe.
namespace resultPool {
unsigned char* take(size_t bytes, size_t* capacity);
void give(unsigned char* p, size_t capacity);
}  // namespace resultPool

// Offsets inside one staging buffer: 256-byte aligned regions.
inline size_t alignUp(size_t n) { return (n + 255) & ~size_t(255); }
