// dlopen'd NCCL and CUDA driver tables (see api.h).
#include "api.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

namespace {

// Opens `envVar`'s path or `fallback`; throws Unavailable naming what it tried.
void* openLib(const char* envVar, const char* fallback) {
  const char* env = std::getenv(envVar);
  const bool fromEnv = env && *env;
  const char* path = fromEnv ? env : fallback;
  dlerror();
  void* h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* why = dlerror();
    throw CommError(ErrKind::Unavailable, std::string("cannot load ") + path + (fromEnv ? " (from " : " (set ") + envVar +
                                              (fromEnv ? "): " : " to override): ") + (why ? why : "unknown error"));
  }
  return h;
}

template <typename F>
void sym(void* lib, const char* libName, const char* name, F& fn, bool required = true) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn && required) throw CommError(ErrKind::Unavailable, std::string(libName) + " lacks " + name + " (too old?)");
}

std::mutex loadMutex;
NcclApi nccl;
bool ncclLoaded = false;
CudaApi cuda;
bool cudaLoaded = false;

}  // namespace

const char* errCode(ErrKind kind) {
  switch (kind) {
    case ErrKind::Unavailable: return "TKNP_NCCL_UNAVAILABLE";
    case ErrKind::Invalid: return "TKNP_NCCL_INVALID";
    case ErrKind::Timeout: return "TKNP_NCCL_TIMEOUT";
    case ErrKind::Aborted: return "TKNP_NCCL_ABORTED";
    case ErrKind::Remote: return "TKNP_NCCL_REMOTE";
    case ErrKind::Nccl: return "TKNP_NCCL_ERROR";
    case ErrKind::Cuda: return "TKNP_CUDA_ERROR";
  }
  return "TKNP_NCCL_ERROR";
}

const NcclApi& ncclApi() {
  std::lock_guard<std::mutex> lock(loadMutex);
  if (ncclLoaded) return nccl;
  void* h = openLib("TKNP_NCCL_LIB", "libnccl.so.2");
  NcclApi a{};
  const char* n = "libnccl";
  try {
    sym(h, n, "ncclGetVersion", a.getVersion);
    sym(h, n, "ncclGetUniqueId", a.getUniqueId);
    sym(h, n, "ncclCommInitRankConfig", a.commInitRankConfig);
    sym(h, n, "ncclAllReduce", a.allReduce);
    sym(h, n, "ncclBroadcast", a.broadcast);
    sym(h, n, "ncclAllGather", a.allGather);
    sym(h, n, "ncclSend", a.send);
    sym(h, n, "ncclRecv", a.recv);
    sym(h, n, "ncclGroupStart", a.groupStart);
    sym(h, n, "ncclGroupEnd", a.groupEnd);
    sym(h, n, "ncclCommGetAsyncError", a.commGetAsyncError);
    sym(h, n, "ncclCommFinalize", a.commFinalize);
    sym(h, n, "ncclCommDestroy", a.commDestroy);
    sym(h, n, "ncclCommAbort", a.commAbort);
    sym(h, n, "ncclGetErrorString", a.getErrorString);
    sym(h, n, "ncclGetLastError", a.getLastError, false);
  } catch (...) {
    dlclose(h);
    throw;
  }
  nccl = a;
  ncclLoaded = true;
  return nccl;
}

const CudaApi& cudaApi() {
  std::lock_guard<std::mutex> lock(loadMutex);
  if (cudaLoaded) return cuda;
  void* h = openLib("TKNP_CUDA_LIB", "libcuda.so.1");
  CudaApi a{};
  const char* n = "libcuda";
  try {
    sym(h, n, "cuInit", a.init);
    sym(h, n, "cuDeviceGetCount", a.deviceGetCount);
    sym(h, n, "cuDeviceGet", a.deviceGet);
    sym(h, n, "cuDevicePrimaryCtxRetain", a.devicePrimaryCtxRetain);
    sym(h, n, "cuDevicePrimaryCtxRelease_v2", a.devicePrimaryCtxRelease);
    sym(h, n, "cuCtxSetCurrent", a.ctxSetCurrent);
    sym(h, n, "cuStreamCreate", a.streamCreate);
    sym(h, n, "cuStreamDestroy_v2", a.streamDestroy);
    sym(h, n, "cuStreamQuery", a.streamQuery);
    sym(h, n, "cuMemAlloc_v2", a.memAlloc);
    sym(h, n, "cuMemFree_v2", a.memFree);
    sym(h, n, "cuMemHostAlloc", a.memHostAlloc);
    sym(h, n, "cuMemFreeHost", a.memFreeHost);
    sym(h, n, "cuMemcpyHtoDAsync_v2", a.memcpyHtoDAsync);
    sym(h, n, "cuMemcpyDtoHAsync_v2", a.memcpyDtoHAsync);
    sym(h, n, "cuDeviceGetPCIBusId", a.deviceGetPCIBusId);
    sym(h, n, "cuDeviceGetUuid_v2", a.deviceGetUuid, false);
    if (!a.deviceGetUuid) sym(h, n, "cuDeviceGetUuid", a.deviceGetUuid);
    sym(h, n, "cuGetErrorString", a.getErrorString);
  } catch (...) {
    dlclose(h);
    throw;
  }
  cuda = a;
  cudaLoaded = true;
  return cuda;
}

void cuCheck(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* s = nullptr;
  if (cuda.getErrorString) cuda.getErrorString(r, &s);
  throw CommError(ErrKind::Cuda, std::string(what) + " failed: CUDA error " + std::to_string(r) + (s ? std::string(" (") + s + ")" : ""));
}
