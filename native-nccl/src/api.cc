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
void sym(void* h, const char* libName, const char* name, F& fn, bool required = true) {
  fn = reinterpret_cast<F>(dlsym(h, name));
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

// Loads `T` from `lib` once; `fill` resolves its entry points.
template <typename T, typename Fill>
const T& load(T& api, bool& loaded, const char* envVar, const char* lib, Fill fill) {
  std::lock_guard<std::mutex> lock(loadMutex);
  if (loaded) return api;
  void* h = openLib(envVar, lib);
  T a{};
  try {
    fill(h, a);
  } catch (...) {
    dlclose(h);
    throw;
  }
  api = a;
  loaded = true;
  return api;
}

#define TKNP_SYM(name, ret, params) sym(h, lib, #name, a.name);

const NcclApi& ncclApi() {
  return load(nccl, ncclLoaded, "TKNP_NCCL_LIB", "libnccl.so.2", [](void* h, NcclApi& a) {
    const char* lib = "libnccl.so.2";
    TKNP_NCCL_FUNCS(TKNP_SYM)
    sym(h, lib, "ncclGetLastError", a.ncclGetLastError, false);
  });
}

const CudaApi& cudaApi() {
  return load(cuda, cudaLoaded, "TKNP_CUDA_LIB", "libcuda.so.1", [](void* h, CudaApi& a) {
    const char* lib = "libcuda.so.1";
    TKNP_CUDA_FUNCS(TKNP_SYM)
    sym(h, lib, "cuDeviceGetUuid_v2", a.cuDeviceGetUuid, false);
    if (!a.cuDeviceGetUuid) sym(h, lib, "cuDeviceGetUuid", a.cuDeviceGetUuid);
  });
}

void cuCheck(CUresult r, const char* what) {
  if (r == CUDA_SUCCESS) return;
  const char* s = nullptr;
  if (cuda.cuGetErrorString) cuda.cuGetErrorString(r, &s);
  throw CommError(ErrKind::Cuda, std::string(what) + " failed: CUDA error " + std::to_string(r) + (s ? std::string(" (") + s + ")" : ""));
}
