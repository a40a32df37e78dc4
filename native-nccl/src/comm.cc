#include "comm.h"

#include <climits>
#include <cstdlib>
#include <cstring>

using std::chrono::steady_clock;

Comm::Comm(const ncclUniqueId& id, int rank, int nranks, int device, int64_t timeoutMs, Done done)
    : nccl_(ncclApi()), cu_(cudaApi()), id_(id), rank_(rank), nranks_(nranks), device_(device),
      timeout_(timeoutMs), done_(std::move(done)) {
  thread_ = std::thread([this] { loop(); });
}

Comm::~Comm() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  abort_ = true;
  cv_.notify_all();
  join();
}

void Comm::join() {
  if (thread_.joinable()) thread_.join();
}

void Comm::submit(Op* op) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(op);
  }
  cv_.notify_all();
}

void Comm::requestAbort() {
  abort_ = true;
  cv_.notify_all();
}

void Comm::loop() {
  for (;;) {
    Op* op = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || stop_ || (abort_ && comm_); });
      if (!queue_.empty()) {
        op = queue_.front();
        queue_.pop_front();
      } else if (stop_) {
        break;
      }
    }
    if (!op) {  // woken by abort() while idle
      abortComm("aborted by abort()");
      continue;
    }
    const bool last = op->kind == OpKind::Destroy;
    run(*op);
    done_(op);  // the binding owns `op` from here
    if (last) break;
  }
  teardown();
}

void Comm::run(Op& op) {
  deadline_ = steady_clock::now() + timeout_;
  try {
    if (op.kind == OpKind::Init) init();
    else if (op.kind == OpKind::Destroy) destroy();
    else if (!dead_.empty() || !comm_) throw CommError(ErrKind::Aborted, "NCCL communicator " + (dead_.empty() ? std::string("not initialised") : dead_));
    else if (op.kind == OpKind::Broadcast) broadcast(op);
    else if (op.kind == OpKind::AllReduce) allReduce(op);
    else if (op.kind == OpKind::AllGather) allGather(op);
    else if (op.kind == OpKind::Scatterv) scatterv(op);
    else gatherv(op);
    op.ok = true;
  } catch (const std::exception& e) {
    const CommError* ce = dynamic_cast<const CommError*>(&e);
    op.err = ce ? ce->kind : ErrKind::Nccl;
    op.message = e.what();
    if (op.err != ErrKind::Invalid && comm_) abortComm(std::string("aborted after: ") + e.what());
    if (op.out) resultPool::give(op.out, op.outCap);
    op.out = nullptr;
    op.outLen = 0;
  }
}

void Comm::init() {
  cuCheck(cu_.cuInit(0), "cuInit");
  cuCheck(cu_.cuDeviceGet(&dev_, device_), "cuDeviceGet");
  CUcontext ctx = nullptr;
  cuCheck(cu_.cuDevicePrimaryCtxRetain(&ctx, dev_), "cuDevicePrimaryCtxRetain");
  ctxRetained_ = true;
  cuCheck(cu_.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");  // this thread's context, seen by NCCL
  cuCheck(cu_.cuStreamCreate(&stream_, 0x1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
  staging_ = std::make_unique<Staging>(cu_);
  // Nonblocking: init and every later call return at once (ncclInProgress) and are polled,
  // so a missing peer meets the deadline instead of hanging this thread.
  ncclConfig217 cfg{sizeof(ncclConfig217), 0xcafebeef, 21700, /*blocking*/ 0, INT_MIN, INT_MIN, INT_MIN, nullptr};
  ncclComm_t c = nullptr;
  ncclResult_t r = nccl_.ncclCommInitRankConfig(&c, nranks_, id_, rank_, &cfg);
  comm_ = c;
  if (r != ncclSuccess && r != ncclInProgress) {
    if (!comm_) dead_ = "failed to initialise";
    throw ncclError(r, "ncclCommInitRankConfig");
  }
  wait("ncclCommInitRankConfig", false);
}

void Comm::destroy() {
  if (comm_) {
    checkNccl(nccl_.ncclCommFinalize(comm_), "ncclCommFinalize");
    wait("ncclCommFinalize", true);
    ncclComm_t c = comm_;
    comm_ = nullptr;
    checkNccl(nccl_.ncclCommDestroy(c), "ncclCommDestroy");
  }
  dead_ = "destroyed";
}

void Comm::teardown() {
  if (comm_) nccl_.ncclCommAbort(comm_);
  comm_ = nullptr;
  staging_.reset();
  if (stream_) cu_.cuStreamDestroy_v2(stream_);
  stream_ = nullptr;
  if (ctxRetained_) cu_.cuDevicePrimaryCtxRelease_v2(dev_);
  ctxRetained_ = false;
}

void Comm::abortComm(const std::string& why) {
  if (comm_) nccl_.ncclCommAbort(comm_);
  comm_ = nullptr;
  if (dead_.empty()) dead_ = why;
}

CommError Comm::ncclError(ncclResult_t r, const char* what) {
  std::string msg = std::string(what) + " failed: " + nccl_.ncclGetErrorString(r);
  const char* last = nccl_.ncclGetLastError ? nccl_.ncclGetLastError(comm_) : nullptr;
  if (last && *last) msg += std::string(" (") + last + ")";
  return CommError(r == ncclRemoteError ? ErrKind::Remote : ErrKind::Nccl, msg);
}

void Comm::checkNccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess && r != ncclInProgress) throw ncclError(r, what);
}

void Comm::wait(const char* what, bool stream) {
  for (unsigned spin = 0;; ++spin) {
    if (abort_) throw CommError(ErrKind::Aborted, std::string("aborted by abort() during ") + what);
    ncclResult_t st = ncclSuccess;
    checkNccl(nccl_.ncclCommGetAsyncError(comm_, &st), "ncclCommGetAsyncError");
    if (st != ncclSuccess && st != ncclInProgress) throw ncclError(st, what);
    if (st == ncclSuccess) {
      if (!stream) return;
      CUresult r = cu_.cuStreamQuery(stream_);
      if (r == CUDA_SUCCESS) return;
      if (r != CUDA_ERROR_NOT_READY) cuCheck(r, what);
    }
    if (steady_clock::now() > deadline_)
      throw CommError(ErrKind::Timeout, std::string(what) + " did not complete within " + std::to_string(timeout_.count()) +
                                            " ms (a rank missing or hung?)");
    // Spin briefly (collectives on NVLink take microseconds), then back off.
    if (spin < 2000) std::this_thread::yield();
    else std::this_thread::sleep_for(std::chrono::microseconds(spin < 20000 ? 20 : 200));
  }
}

Comm::Buf Comm::buf(size_t bytes) {
  return {staging_->host(bytes), staging_->device(bytes)};
}

void Comm::copyIn(CUdeviceptr d, const void* h, size_t n) {
  if (n) cuCheck(cu_.cuMemcpyHtoDAsync_v2(d, h, n, stream_), "cuMemcpyHtoDAsync");
}

void Comm::copyOut(void* h, CUdeviceptr d, size_t n) {
  if (n) cuCheck(cu_.cuMemcpyDtoHAsync_v2(h, d, n, stream_), "cuMemcpyDtoHAsync");
}

// Copies the staged result out of pinned memory (reused by the next op).
void Comm::collect(Op& op, const unsigned char* h, size_t n) {
  op.outLen = n;
  if (!n) return;
  op.out = resultPool::take(n, &op.outCap);
  if (!op.out) throw CommError(ErrKind::Invalid, "out of host memory for a " + std::to_string(n) + "-byte result");
  std::memcpy(op.out, h, n);
}

void Comm::send(CUdeviceptr d, size_t n, int peer) {
  if (n) checkNccl(nccl_.ncclSend(reinterpret_cast<void*>(d), n, ncclUint8, peer, comm_, stream_), "ncclSend");
}

void Comm::recv(CUdeviceptr d, size_t n, int peer) {
  if (n) checkNccl(nccl_.ncclRecv(reinterpret_cast<void*>(d), n, ncclUint8, peer, comm_, stream_), "ncclRecv");
}

// H2D of b's first `inBytes`, the NCCL calls `issue` makes (grouped if `group`), D2H of
// [outOff, outOff + outBytes), each waited for.
template <typename F>
void Comm::step(const char* what, const Buf& b, size_t inBytes, size_t outOff, size_t outBytes, bool group, F issue) {
  copyIn(b.d, b.h, inBytes);
  if (group) checkNccl(nccl_.ncclGroupStart(), "ncclGroupStart");
  issue(reinterpret_cast<void*>(b.d));
  if (group) checkNccl(nccl_.ncclGroupEnd(), "ncclGroupEnd");
  wait(what, false);
  copyOut(b.h + outOff, b.d + outOff, outBytes);
  wait(what, true);
}

std::vector<uint64_t> Comm::allGatherU64(uint64_t mine) {
  const size_t n = 8 * nranks_, recvOff = 256;
  Buf b = buf(recvOff + n);
  std::memcpy(b.h, &mine, 8);
  step("ncclAllGather (sizes)", b, 8, recvOff, n, false, [&](void* d) {
    checkNccl(nccl_.ncclAllGather(d, static_cast<char*>(d) + recvOff, 1, ncclUint64, comm_, stream_), "ncclAllGather (sizes)");
  });
  std::vector<uint64_t> all(nranks_);
  std::memcpy(all.data(), b.h + recvOff, n);
  return all;
}

void Comm::broadcastU64(std::vector<uint64_t>& v, int root) {
  const size_t n = 8 * v.size();
  Buf b = buf(n);
  if (rank_ == root) std::memcpy(b.h, v.data(), n);
  step("ncclBroadcast (sizes)", b, n, 0, n, false, [&](void* d) {
    checkNccl(nccl_.ncclBroadcast(d, d, v.size(), ncclUint64, root, comm_, stream_), "ncclBroadcast (sizes)");
  });
  std::memcpy(v.data(), b.h, n);
}

void Comm::broadcast(Op& op) {
  const bool root = rank_ == op.root;
  uint64_t n = op.byteLength;
  if (op.byteLength < 0) {
    std::vector<uint64_t> v{root ? op.in[0].size : 0};
    broadcastU64(v, op.root);
    n = v[0];
  }
  op.outIsInput = root;
  if (!n) return;
  Buf b = buf(n);
  if (root) std::memcpy(b.h, op.in[0].data, n);
  step("ncclBroadcast", b, root ? n : 0, 0, root ? 0 : n, false, [&](void* d) {
    checkNccl(nccl_.ncclBroadcast(d, d, n, ncclUint8, op.root, comm_, stream_), "ncclBroadcast");
  });
  if (!root) collect(op, b.h, n);
}

void Comm::allReduce(Op& op) {
  const size_t n = op.in[0].size;
  if (!n) return;
  Buf b = buf(n);
  std::memcpy(b.h, op.in[0].data, n);
  step("ncclAllReduce", b, n, 0, n, false, [&](void* d) {
    checkNccl(nccl_.ncclAllReduce(d, d, n / (op.f16 ? 2 : 4), op.f16 ? ncclFloat16 : ncclFloat32, ncclSum, comm_, stream_), "ncclAllReduce");
  });
  collect(op, b.h, n);
}

// Rank r's part starts at the sum of the sizes before it.
static std::vector<size_t> offsets(const std::vector<uint64_t>& sizes, size_t* total) {
  std::vector<size_t> off(sizes.size());
  size_t t = 0;
  for (size_t r = 0; r < sizes.size(); r++) off[r] = t, t += sizes[r];
  *total = t;
  return off;
}

void Comm::allGather(Op& op) {
  std::vector<uint64_t> sizes = op.sizes.empty() ? allGatherU64(op.in[0].size) : op.sizes;
  size_t total;
  std::vector<size_t> off = offsets(sizes, &total);
  op.parts.assign(sizes.begin(), sizes.end());
  if (!total) return;
  const size_t mine = sizes[rank_], recvOff = alignUp(mine);
  bool equal = true;
  for (uint64_t s : sizes) equal = equal && s == mine;
  Buf b = buf(recvOff + total);
  std::memcpy(b.h, op.in[0].data, mine);
  step("allGather", b, mine, recvOff, total, !equal, [&](void* d) {
    if (equal) checkNccl(nccl_.ncclAllGather(d, static_cast<char*>(d) + recvOff, mine, ncclUint8, comm_, stream_), "ncclAllGather");
    else  // variable sizes: every rank sends its chunk to every rank, itself included
      for (int r = 0; r < nranks_; r++) send(b.d, mine, r), recv(b.d + recvOff + off[r], sizes[r], r);
  });
  collect(op, b.h + recvOff, total);
}

void Comm::scatterv(Op& op) {
  const bool root = rank_ == op.root;
  std::vector<uint64_t> sizes = op.sizes;
  if (sizes.empty()) {
    sizes.assign(nranks_, 0);
    for (int r = 0; root && r < nranks_; r++) sizes[r] = op.in[r].size;
    broadcastU64(sizes, op.root);
  }
  size_t total;
  std::vector<size_t> off = offsets(sizes, &total);
  const size_t sendBytes = root ? total : 0, mine = sizes[rank_], recvOff = alignUp(sendBytes);
  if (!sendBytes && !mine) return;
  Buf b = buf(recvOff + mine);
  for (int r = 0; root && r < nranks_; r++) std::memcpy(b.h + off[r], op.in[r].data, sizes[r]);
  step("scatterv", b, sendBytes, recvOff, mine, true, [&](void*) {
    for (int r = 0; root && r < nranks_; r++) send(b.d + off[r], sizes[r], r);
    recv(b.d + recvOff, mine, op.root);
  });
  collect(op, b.h + recvOff, mine);
}

void Comm::gatherv(Op& op) {
  const bool root = rank_ == op.root;
  std::vector<uint64_t> sizes = op.sizes.empty() ? allGatherU64(op.in[0].size) : op.sizes;
  size_t total;
  std::vector<size_t> off = offsets(sizes, &total);
  const size_t mine = sizes[rank_], recvOff = alignUp(mine), recvBytes = root ? total : 0;
  op.outNull = !root;
  if (root) op.parts.assign(sizes.begin(), sizes.end());
  if (!mine && !recvBytes) return;
  Buf b = buf(recvOff + recvBytes);
  std::memcpy(b.h, op.in[0].data, mine);
  step("gatherv", b, mine, recvOff, recvBytes, true, [&](void*) {
    send(b.d, mine, op.root);
    for (int r = 0; root && r < nranks_; r++) recv(b.d + recvOff + off[r], sizes[r], r);
  });
  if (root) collect(op, b.h + recvOff, recvBytes);
}
