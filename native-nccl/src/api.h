// The slices of the NCCL and CUDA driver APIs tknp uses, declared here and resolved with
// dlopen/dlsym at first use, so the addon builds and loads on machines with neither.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

// ---- NCCL (nccl.h, ABI-stable since 2.x) ----
typedef struct ncclComm* ncclComm_t;
struct ncclUniqueId { char internal[128]; };
typedef int ncclResult_t;  // enum: only the values below are used
constexpr ncclResult_t ncclSuccess = 0, ncclRemoteError = 6, ncclInProgress = 7;
typedef int ncclDataType_t;
constexpr ncclDataType_t ncclUint8 = 1, ncclUint64 = 5, ncclFloat16 = 6, ncclFloat32 = 7;
typedef int ncclRedOp_t;
constexpr ncclRedOp_t ncclSum = 0;
// ncclConfig_t as of NCCL 2.17 (`version` tells NCCL which fields follow; later ones default).
struct ncclConfig217 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking, cgaClusterSize, minCTAs, maxCTAs;
  const char* netName;
};

// ---- CUDA driver API (cuda.h) ----
typedef int CUresult;
constexpr CUresult CUDA_SUCCESS = 0, CUDA_ERROR_NO_DEVICE = 100, CUDA_ERROR_NOT_READY = 600;
typedef int CUdevice;
typedef struct CUctx_st* CUcontext;
typedef struct CUstream_st* CUstream;
typedef unsigned long long CUdeviceptr;
struct CUuuid { unsigned char bytes[16]; };

// Required entry points: X(name, return type, parameter list). Fields keep the C names.
#define TKNP_NCCL_FUNCS(X)                                                                          \
  X(ncclGetVersion, ncclResult_t, (int*))                                                           \
  X(ncclGetUniqueId, ncclResult_t, (ncclUniqueId*))                                                 \
  X(ncclCommInitRankConfig, ncclResult_t, (ncclComm_t*, int, ncclUniqueId, int, ncclConfig217*))   \
  X(ncclAllReduce, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, CUstream)) \
  X(ncclBroadcast, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, CUstream)) \
  X(ncclAllGather, ncclResult_t, (const void*, void*, size_t, ncclDataType_t, ncclComm_t, CUstream)) \
  X(ncclSend, ncclResult_t, (const void*, size_t, ncclDataType_t, int, ncclComm_t, CUstream))      \
  X(ncclRecv, ncclResult_t, (void*, size_t, ncclDataType_t, int, ncclComm_t, CUstream))            \
  X(ncclGroupStart, ncclResult_t, ())                                                               \
  X(ncclGroupEnd, ncclResult_t, ())                                                                 \
  X(ncclCommGetAsyncError, ncclResult_t, (ncclComm_t, ncclResult_t*))                               \
  X(ncclCommFinalize, ncclResult_t, (ncclComm_t))                                                   \
  X(ncclCommDestroy, ncclResult_t, (ncclComm_t))                                                    \
  X(ncclCommAbort, ncclResult_t, (ncclComm_t))                                                      \
  X(ncclGetErrorString, const char*, (ncclResult_t))

#define TKNP_CUDA_FUNCS(X)                                                   \
  X(cuInit, CUresult, (unsigned int))                                        \
  X(cuDeviceGetCount, CUresult, (int*))                                      \
  X(cuDeviceGet, CUresult, (CUdevice*, int))                                 \
  X(cuDevicePrimaryCtxRetain, CUresult, (CUcontext*, CUdevice))              \
  X(cuDevicePrimaryCtxRelease_v2, CUresult, (CUdevice))                      \
  X(cuCtxSetCurrent, CUresult, (CUcontext))                                  \
  X(cuStreamCreate, CUresult, (CUstream*, unsigned int))                     \
  X(cuStreamDestroy_v2, CUresult, (CUstream))                                \
  X(cuStreamQuery, CUresult, (CUstream))                                     \
  X(cuMemAlloc_v2, CUresult, (CUdeviceptr*, size_t))                         \
  X(cuMemFree_v2, CUresult, (CUdeviceptr))                                   \
  X(cuMemHostAlloc, CUresult, (void**, size_t, unsigned int))                \
  X(cuMemFreeHost, CUresult, (void*))                                        \
  X(cuMemcpyHtoDAsync_v2, CUresult, (CUdeviceptr, const void*, size_t, CUstream)) \
  X(cuMemcpyDtoHAsync_v2, CUresult, (void*, CUdeviceptr, size_t, CUstream)) \
  X(cuDeviceGetPCIBusId, CUresult, (char*, int, CUdevice))                   \
  X(cuGetErrorString, CUresult, (CUresult, const char**))

#define TKNP_FIELD(name, ret, params) ret(*name) params;
struct NcclApi {
  TKNP_NCCL_FUNCS(TKNP_FIELD)
  const char* (*ncclGetLastError)(ncclComm_t);  // optional (NCCL >= 2.13): may be null
};
struct CudaApi {
  TKNP_CUDA_FUNCS(TKNP_FIELD)
  CUresult (*cuDeviceGetUuid)(CUuuid*, CUdevice);  // cuDeviceGetUuid_v2, else cuDeviceGetUuid
};
#undef TKNP_FIELD

// What went wrong, mapped by the TS layer to tknp's named errors.
enum class ErrKind { Unavailable, Invalid, Timeout, Aborted, Remote, Nccl, Cuda };
const char* errCode(ErrKind kind);  // "TKNP_NCCL_TIMEOUT", ...

struct CommError : std::runtime_error {
  ErrKind kind;
  CommError(ErrKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

// Load on first use (thread-safe); throw CommError(Unavailable) naming the path tried and the
// env variable that overrides it. A failed load is retried on the next call.
const NcclApi& ncclApi();
const CudaApi& cudaApi();

// Throw CommError(Cuda) for a failed driver call, naming `what`.
void cuCheck(CUresult r, const char* what);
