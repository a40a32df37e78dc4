// Node-API bindings: ncclAvailable, cudaDeviceCount, cudaDeviceInfo, getUniqueId, NcclComm.
// NcclComm methods queue an Op on the communicator's worker thread and return a Promise,
// settled on the JS thread through a ThreadSafeFunction. Errors carry `code` (errCode()).
#include <napi.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "comm.h"

namespace {

Napi::Error makeError(Napi::Env env, ErrKind kind, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, errCode(kind)));
  return e;
}

// Runs `f`, turning a CommError into a JS exception with its code.
template <typename F>
auto guarded(Napi::Env env, F f) -> decltype(f()) {
  try {
    return f();
  } catch (const CommError& e) {
    throw makeError(env, e.kind, e.what());
  }
}

Napi::Value NcclAvailable(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object res = Napi::Object::New(env);
  std::string reason;
  try {
    int v = 0;
    ncclApi().ncclGetVersion(&v);
    res.Set("version", v);
  } catch (const CommError& e) {
    reason = e.what();
  }
  try {
    cudaApi();
  } catch (const CommError& e) {
    reason += (reason.empty() ? "" : "; ") + std::string(e.what());
  }
  res.Set("ok", reason.empty());
  if (!reason.empty()) res.Set("reason", reason);
  return res;
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const CudaApi& cu = cudaApi();
    CUresult r = cu.cuInit(0);
    if (r == CUDA_ERROR_NO_DEVICE) return Napi::Number::New(info.Env(), 0);
    cuCheck(r, "cuInit");
    int n = 0;
    cuCheck(cu.cuDeviceGetCount(&n), "cuDeviceGetCount");
    return Napi::Number::New(info.Env(), n);
  });
}

// { pciBusId: "0000:19:00.0", uuid: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" } (nvidia-smi shows "GPU-" + uuid;
// Vulkan's deviceUUID holds the same 16 bytes).
Napi::Value CudaDeviceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int ordinal = info[0].As<Napi::Number>().Int32Value();
  return guarded(env, [&]() -> Napi::Value {
    const CudaApi& cu = cudaApi();
    cuCheck(cu.cuInit(0), "cuInit");
    CUdevice dev;
    cuCheck(cu.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
    char bus[64] = {0};
    cuCheck(cu.cuDeviceGetPCIBusId(bus, sizeof bus, dev), "cuDeviceGetPCIBusId");
    CUuuid u;
    cuCheck(cu.cuDeviceGetUuid(&u, dev), "cuDeviceGetUuid");
    char uuid[40];
    char* p = uuid;
    for (int i = 0; i < 16; i++) {
      if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
      p += std::snprintf(p, 3, "%02x", u.bytes[i]);
    }
    Napi::Object res = Napi::Object::New(env);
    res.Set("pciBusId", std::string(bus));
    res.Set("uuid", std::string(uuid));
    return res;
  });
}

Napi::Value GetUniqueId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    const NcclApi& nccl = ncclApi();
    ncclUniqueId id;
    ncclResult_t r = nccl.ncclGetUniqueId(&id);
    if (r != ncclSuccess) throw CommError(ErrKind::Nccl, std::string("ncclGetUniqueId failed: ") + nccl.ncclGetErrorString(r));
    Napi::Uint8Array out = Napi::Uint8Array::New(env, sizeof id.internal);
    std::memcpy(out.Data(), id.internal, sizeof id.internal);
    return out;
  });
}

class NcclCommWrap;

// What the JS side keeps alive while an Op runs.
struct Pending {
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference self;
  std::vector<Napi::Reference<Napi::Uint8Array>> keep;
};

void deliver(Napi::Env env, Napi::Function, NcclCommWrap* wrap, Op* op);
using Tsfn = Napi::TypedThreadSafeFunction<NcclCommWrap, Op, deliver>;

class NcclCommWrap : public Napi::ObjectWrap<NcclCommWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NcclComm",
                       {InstanceMethod<&NcclCommWrap::Ready>("ready"), InstanceMethod<&NcclCommWrap::Broadcast>("broadcast"),
                        InstanceMethod<&NcclCommWrap::AllReduce>("allReduce"), InstanceMethod<&NcclCommWrap::AllGather>("allGather"),
                        InstanceMethod<&NcclCommWrap::Scatterv>("scatterv"), InstanceMethod<&NcclCommWrap::Gatherv>("gatherv"),
                        InstanceMethod<&NcclCommWrap::Abort>("abort"), InstanceMethod<&NcclCommWrap::Destroy>("destroy")});
  }

  // new NcclComm(uniqueId: Uint8Array(128), rank, nranks, cudaDevice, { timeoutMs = 30000 }?)
  explicit NcclCommWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NcclCommWrap>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsTypedArray() || info[0].As<Napi::Uint8Array>().ByteLength() != sizeof(ncclUniqueId))
      throw makeError(env, ErrKind::Invalid, "NcclComm: uniqueId must be a 128-byte Uint8Array");
    ncclUniqueId id;
    std::memcpy(id.internal, info[0].As<Napi::Uint8Array>().Data(), sizeof id.internal);
    rank_ = info[1].As<Napi::Number>().Int32Value();
    nranks_ = info[2].As<Napi::Number>().Int32Value();
    const int device = info[3].As<Napi::Number>().Int32Value();
    int64_t timeoutMs = 30000;
    if (info[4].IsObject() && info[4].As<Napi::Object>().Has("timeoutMs"))
      timeoutMs = info[4].As<Napi::Object>().Get("timeoutMs").As<Napi::Number>().Int64Value();
    if (nranks_ < 1 || rank_ < 0 || rank_ >= nranks_ || device < 0 || timeoutMs <= 0)
      throw makeError(env, ErrKind::Invalid, "NcclComm: need 0 <= rank < nranks, cudaDevice >= 0, timeoutMs > 0");
    guarded(env, [&] { ncclApi(), cudaApi(); });  // NcclUnavailable here, not later
    // The finalizer may run after this object is gone (env teardown): it clears a shared flag.
    tsfn_ = Tsfn::New(env, "tknp_nccl", 0, 1, this, [](Napi::Env, std::shared_ptr<bool>* alive, NcclCommWrap*) {
      **alive = false;
      delete alive;
    }, new std::shared_ptr<bool>(tsfnAlive_));
    tsfn_.Unref(env);
    comm_ = std::make_unique<Comm>(id, rank_, nranks_, device, timeoutMs, [this](Op* op) { tsfn_.BlockingCall(op); });
    Napi::Object p = submit(env, new Op(OpKind::Init), {}).As<Napi::Object>();
    ready_ = Napi::Persistent(p);
    // A failed init also fails every op; without this, nobody awaiting ready() would crash Node.
    p.Get("catch").As<Napi::Function>().Call(p, {Napi::Function::New(env, [](const Napi::CallbackInfo&) {})});
  }

  ~NcclCommWrap() override {
    comm_.reset();  // aborts and joins the worker
    release();
  }

  void finishDestroy() {
    comm_->join();
    release();
  }

  void settled(Napi::Env env) {
    if (--inFlight_ == 0 && *tsfnAlive_ && !released_) tsfn_.Unref(env);
  }

 private:
  void release() {
    if (*tsfnAlive_ && !released_) tsfn_.Release();
    released_ = true;
  }

  Napi::Value submit(Napi::Env env, Op* op, std::vector<Napi::Uint8Array> inputs) {
    std::unique_ptr<Op> owned(op);
    auto pending = std::make_unique<Pending>(Pending{Napi::Promise::Deferred::New(env), Napi::Persistent(Value()), {}});
    Napi::Value promise = pending->deferred.Promise();
    if (destroyed_) {
      pending->deferred.Reject(makeError(env, ErrKind::Aborted, "NCCL communicator destroyed").Value());
      return promise;
    }
    for (auto& a : inputs) {
      op->in.push_back({a.Data(), a.ByteLength()});
      pending->keep.push_back(Napi::Persistent(a));
    }
    op->binding = pending.release();
    if (inFlight_++ == 0) tsfn_.Ref(env);
    comm_->submit(owned.release());
    return promise;
  }

  Napi::Uint8Array bytes(const Napi::CallbackInfo& info, size_t i, const char* what) {
    if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw makeError(info.Env(), ErrKind::Invalid, std::string(what) + " must be a Uint8Array");
    return info[i].As<Napi::Uint8Array>();
  }

  int rootArg(const Napi::CallbackInfo& info, size_t i) {
    const int root = info[i].As<Napi::Number>().Int32Value();
    if (root < 0 || root >= nranks_) throw makeError(info.Env(), ErrKind::Invalid, "root out of range");
    return root;
  }

  // sizes: number[] of length nranks, or null/undefined (exchanged inside the op).
  std::vector<uint64_t> sizesArg(const Napi::CallbackInfo& info, size_t i) {
    std::vector<uint64_t> sizes;
    if (info[i].IsNull() || info[i].IsUndefined()) return sizes;
    Napi::Array a = info[i].As<Napi::Array>();
    if (a.Length() != uint32_t(nranks_)) throw makeError(info.Env(), ErrKind::Invalid, "sizes must have one entry per rank");
    for (uint32_t r = 0; r < a.Length(); r++) sizes.push_back(uint64_t(a.Get(r).As<Napi::Number>().Int64Value()));
    return sizes;
  }

  void expectSize(Napi::Env env, const std::vector<uint64_t>& sizes, int r, size_t got) {
    if (!sizes.empty() && sizes[r] != got)
      throw makeError(env, ErrKind::Invalid, "chunk of rank " + std::to_string(r) + " has " + std::to_string(got) +
                                                 " bytes, sizes says " + std::to_string(sizes[r]));
  }

  Napi::Value Ready(const Napi::CallbackInfo&) { return ready_.Value(); }

  // broadcast(data: Uint8Array | null, root, byteLength?: number): byteLength omitted -> root's size is broadcast first.
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    auto op = std::make_unique<Op>(OpKind::Broadcast);
    op->root = rootArg(info, 1);
    if (info[2].IsNumber()) op->byteLength = info[2].As<Napi::Number>().Int64Value();
    std::vector<Napi::Uint8Array> in;
    if (rank_ == op->root) {
      in.push_back(bytes(info, 0, "broadcast: root's data"));
      if (op->byteLength >= 0 && size_t(op->byteLength) != in[0].ByteLength())
        throw makeError(info.Env(), ErrKind::Invalid, "broadcast: root's data does not have byteLength bytes");
    }
    return submit(info.Env(), op.release(), in);
  }

  // allReduce(data: Uint8Array, dtype: 'f32' | 'f16'): elementwise sum (ncclSum).
  Napi::Value AllReduce(const Napi::CallbackInfo& info) {
    auto op = std::make_unique<Op>(OpKind::AllReduce);
    Napi::Uint8Array data = bytes(info, 0, "allReduce: data");
    const std::string dtype = info[1].As<Napi::String>().Utf8Value();
    if (dtype != "f32" && dtype != "f16") throw makeError(info.Env(), ErrKind::Invalid, "allReduce: dtype must be 'f32' or 'f16'");
    op->f16 = dtype == "f16";
    if (data.ByteLength() % (op->f16 ? 2 : 4)) throw makeError(info.Env(), ErrKind::Invalid, "allReduce: byte length not a multiple of the dtype");
    return submit(info.Env(), op.release(), {data});
  }

  // allGather(chunk, sizes?): Uint8Array[] in rank order.
  Napi::Value AllGather(const Napi::CallbackInfo& info) {
    auto op = std::make_unique<Op>(OpKind::AllGather);
    Napi::Uint8Array chunk = bytes(info, 0, "allGather: chunk");
    op->sizes = sizesArg(info, 1);
    expectSize(info.Env(), op->sizes, rank_, chunk.ByteLength());
    return submit(info.Env(), op.release(), {chunk});
  }

  // scatterv(chunks: Uint8Array[] | null (non-root), sizes?, root): this rank's chunk.
  Napi::Value Scatterv(const Napi::CallbackInfo& info) {
    auto op = std::make_unique<Op>(OpKind::Scatterv);
    op->sizes = sizesArg(info, 1);
    op->root = rootArg(info, 2);
    std::vector<Napi::Uint8Array> in;
    if (rank_ == op->root) {
      if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() != uint32_t(nranks_))
        throw makeError(info.Env(), ErrKind::Invalid, "scatterv: root must pass one chunk per rank");
      Napi::Array chunks = info[0].As<Napi::Array>();
      for (int r = 0; r < nranks_; r++) {
        Napi::Value v = chunks.Get(uint32_t(r));
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
          throw makeError(info.Env(), ErrKind::Invalid, "scatterv: chunks must be Uint8Arrays");
        in.push_back(v.As<Napi::Uint8Array>());
        expectSize(info.Env(), op->sizes, r, in.back().ByteLength());
      }
    }
    return submit(info.Env(), op.release(), in);
  }

  // gatherv(chunk, sizes?, root): root gets Uint8Array[] in rank order, others null.
  Napi::Value Gatherv(const Napi::CallbackInfo& info) {
    auto op = std::make_unique<Op>(OpKind::Gatherv);
    Napi::Uint8Array chunk = bytes(info, 0, "gatherv: chunk");
    op->sizes = sizesArg(info, 1);
    op->root = rootArg(info, 2);
    expectSize(info.Env(), op->sizes, rank_, chunk.ByteLength());
    return submit(info.Env(), op.release(), {chunk});
  }

  Napi::Value Abort(const Napi::CallbackInfo& info) {
    if (comm_) comm_->requestAbort();
    return info.Env().Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    Napi::Value p = submit(info.Env(), new Op(OpKind::Destroy), {});
    destroyed_ = true;
    return p;
  }

  int rank_ = 0, nranks_ = 1;
  std::unique_ptr<Comm> comm_;
  Tsfn tsfn_;
  std::shared_ptr<bool> tsfnAlive_ = std::make_shared<bool>(true);
  bool released_ = false;
  bool destroyed_ = false;
  int inFlight_ = 0;
  Napi::ObjectReference ready_;
};

Napi::Value result(Napi::Env env, Op* op, Pending* pending) {
  if (op->kind == OpKind::Init || op->kind == OpKind::Destroy) return env.Undefined();
  if (op->outIsInput) return pending->keep[0].Value();
  if (op->outNull) return env.Null();
  // The capacity travels as the finalizer's hint.
  Napi::ArrayBuffer ab = op->outLen ? Napi::ArrayBuffer::New(
                                          env, op->out, op->outLen,
                                          [](Napi::Env, void* p, size_t* cap) { resultPool::give(static_cast<unsigned char*>(p), reinterpret_cast<size_t>(cap)); },
                                          reinterpret_cast<size_t*>(op->outCap))
                                    : Napi::ArrayBuffer::New(env, 0);
  op->out = nullptr;  // owned by the ArrayBuffer now
  if (op->kind != OpKind::AllGather && op->kind != OpKind::Gatherv) return Napi::Uint8Array::New(env, op->outLen, ab, 0);
  Napi::Array parts = Napi::Array::New(env, op->parts.size());
  size_t off = 0;
  for (size_t r = 0; r < op->parts.size(); r++) {
    parts.Set(uint32_t(r), Napi::Uint8Array::New(env, op->parts[r], ab, off));
    off += op->parts[r];
  }
  return parts;
}

void deliver(Napi::Env env, Napi::Function, NcclCommWrap* wrap, Op* opRaw) {
  std::unique_ptr<Op> op(opRaw);
  std::unique_ptr<Pending> pending(static_cast<Pending*>(op->binding));
  if (env == nullptr) {  // environment shutting down
    if (op->out) resultPool::give(op->out, op->outCap);
    return;
  }
  if (op->ok) pending->deferred.Resolve(result(env, op.get(), pending.get()));
  else pending->deferred.Reject(makeError(env, op->err, op->message).Value());
  if (op->out) resultPool::give(op->out, op->outCap);
  if (op->kind == OpKind::Destroy) wrap->finishDestroy();
  wrap->settled(env);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("ncclAvailable", Napi::Function::New(env, NcclAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("cudaDeviceInfo", Napi::Function::New(env, CudaDeviceInfo));
  exports.Set("getUniqueId", Napi::Function::New(env, GetUniqueId));
  exports.Set("NcclComm", NcclCommWrap::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(tknp_nccl, Init)
