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

struct NcclApi {
  ncclResult_t (*getVersion)(int*);
  ncclResult_t (*getUniqueId)(ncclUniqueId*);
  ncclResult_t (*commInitRankConfig)(ncclComm_t*, int, ncclUniqueId, int, ncclConfig217*);
  ncclResult_t (*allReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, CUstream);
  ncclResult_t (*broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, CUstream);
  ncclResult_t (*allGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, CUstream);
  ncclResult_t (*send)(const void*, size_t, ncclDataType_t, int, ncclComm_t, CUstream);
  ncclResult_t (*recv)(void*, size_t, ncclDataType_t, int, ncclComm_t, CUstream);
  ncclResult_t (*groupStart)();
  ncclResult_t (*groupEnd)();
  ncclResult_t (*commGetAsyncError)(ncclComm_t, ncclResult_t*);
  ncclResult_t (*commFinalize)(ncclComm_t);
  ncclResult_t (*commDestroy)(ncclComm_t);
  ncclResult_t (*commAbort)(ncclComm_t);
  const char* (*getErrorString)(ncclResult_t);
  const char* (*getLastError)(ncclComm_t);  // optional (NCCL >= 2.13), may be null
};

struct CudaApi {
  CUresult (*init)(unsigned int);
  CUresult (*deviceGetCount)(int*);
  CUresult (*deviceGet)(CUdevice*, int);
  CUresult (*devicePrimaryCtxRetain)(CUcontext*, CUdevice);
  CUresult (*devicePrimaryCtxRelease)(CUdevice);
  CUresult (*ctxSetCurrent)(CUcontext);
  CUresult (*streamCreate)(CUstream*, unsigned int);
  CUresult (*streamDestroy)(CUstream);
  CUresult (*streamQuery)(CUstream);
  CUresult (*memAlloc)(CUdeviceptr*, size_t);
  CUresult (*memFree)(CUdeviceptr);
  CUresult (*memHostAlloc)(void**, size_t, unsigned int);
  CUresult (*memFreeHost)(void*);
  CUresult (*memcpyHtoDAsync)(CUdeviceptr, const void*, size_t, CUstream);
  CUresult (*memcpyDtoHAsync)(void*, CUdeviceptr, size_t, CUstream);
  CUresult (*deviceGetPCIBusId)(char*, int, CUdevice);
  CUresult (*deviceGetUuid)(CUuuid*, CUdevice);
  CUresult (*getErrorString)(CUresult, const char**);
};

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
