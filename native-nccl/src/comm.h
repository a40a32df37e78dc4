// One NCCL communicator and the worker thread that owns it: operations are queued in call
// order (NCCL needs every rank to issue the same sequence) and each runs as
//   host bytes -> pinned staging -> H2D -> NCCL (nonblocking comm) -> D2H -> result bytes
// on one CUDA stream, polling ncclCommGetAsyncError and a deadline; on timeout or error the
// NCCL communicator is aborted and every later operation fails with ErrKind::Aborted.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api.h"
#include "staging.h"

enum class OpKind { Init, Broadcast, AllReduce, AllGather, Scatterv, Gatherv, Destroy };

struct Span {
  const unsigned char* data;
  size_t size;
};

struct Op {
  explicit Op(OpKind k) : kind(k) {}
  OpKind kind;
  std::vector<Span> in;         // input bytes (kept alive by the caller until done)
  std::vector<uint64_t> sizes;  // bytes per rank; empty: exchanged inside the op
  int root = 0;
  bool f16 = false;             // allReduce dtype (else f32)
  int64_t byteLength = -1;      // broadcast: bytes if every rank knows them, else -1

  bool ok = false;
  ErrKind err = ErrKind::Nccl;
  std::string message;
  unsigned char* out = nullptr;  // result from resultPool::take (ownership passes to the caller)
  size_t outLen = 0, outCap = 0;
  std::vector<size_t> parts;     // allGather/gatherv: bytes per rank within `out`
  bool outNull = false;          // gatherv on a non-root rank
  bool outIsInput = false;       // broadcast on root: the result is the input
  void* binding = nullptr;       // the JS binding's per-op state
};

class Comm {
 public:
  using Done = std::function<void(Op*)>;  // called on the worker thread
  Comm(const ncclUniqueId& id, int rank, int nranks, int device, int64_t timeoutMs, Done done);
  ~Comm();  // aborts a live communicator and joins the worker
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  void submit(Op* op);
  // Aborts the NCCL communicator (on the worker thread, soon): the running op and every
  // later one fail with ErrKind::Aborted.
  void requestAbort();
  // Joins the worker once a Destroy op has been delivered.
  void join();

 private:
  struct Buf {
    unsigned char* h;
    CUdeviceptr d;
  };
  void loop();
  void run(Op& op);
  void init();
  void destroy();
  void teardown();
  void abortComm(const std::string& why);

  void broadcast(Op& op);
  void allReduce(Op& op);
  void allGather(Op& op);
  void scatterv(Op& op);
  void gatherv(Op& op);

  Buf buf(size_t bytes);
  void copyIn(CUdeviceptr d, const void* h, size_t n);
  void copyOut(void* h, CUdeviceptr d, size_t n);
  void collect(Op& op, const unsigned char* h, size_t n);
  void send(CUdeviceptr d, size_t n, int peer);  // n == 0: nothing (every rank knows the sizes)
  void recv(CUdeviceptr d, size_t n, int peer);
  template <typename F>
  void step(const char* what, const Buf& b, size_t inBytes, size_t outOff, size_t outBytes, bool group, F issue);
  std::vector<uint64_t> allGatherU64(uint64_t mine);
  void broadcastU64(std::vector<uint64_t>& v, int root);
  void checkNccl(ncclResult_t r, const char* what);
  CommError ncclError(ncclResult_t r, const char* what);
  // Until the communicator's pending NCCL calls are issued (and, with `stream`, the stream
  // is idle); throws on error, abort request or deadline.
  void wait(const char* what, bool stream);

  const NcclApi& nccl_;
  const CudaApi& cu_;
  const ncclUniqueId id_;
  const int rank_, nranks_, device_;
  const std::chrono::milliseconds timeout_;
  const Done done_;

  ncclComm_t comm_ = nullptr;
  CUdevice dev_ = 0;
  bool ctxRetained_ = false;
  CUstream stream_ = nullptr;
  std::unique_ptr<Staging> staging_;
  std::string dead_;  // why the communicator can no longer be used ("" while it can)
  std::chrono::steady_clock::time_point deadline_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op*> queue_;
  bool stop_ = false;
  std::atomic<bool> abort_{false};
  std::thread thread_;
};
