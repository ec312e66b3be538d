// store.cc: the Node-API glue for the checkpoint store and the append log (steadfast/store.h). One small
// function per C function; src/store/*.ts checks arguments, applies defaults and words the errors, so
// everything here trusts its arguments' types.
//
// Threads: every function below is called on the JS thread. Each C call that does I/O runs in an
// AsyncWorker on libuv's pool; its Execute touches only the C handle and the worker's own members (never
// env), and OnOK, back on the JS thread, builds the result or the error and settles the promise. The
// exception is a log's commits, which run on the log's own commit thread ("The commit thread" below).
// sf_log_append does no I/O (it frames the record into memory), so logAppend calls it directly.
//
// Handles: a C handle lives in a Handle, given to JS as an External whose finalizer closes it if JS never
// did. Every worker holds a reference to that External, so the handle cannot be collected while work on
// it runs, and counts itself in Handle::inflight; a close asked for while work runs waits for the count
// to reach zero (src/ waits first anyway). An environment cleanup hook closes handles still open when a
// worker thread or the process ends without closing them, which releases their directory locks.
//
// Teardown: a worker thread terminated with work in flight has that work completed while its environment
// is torn down, when no N-API call succeeds; OnOK then settles nothing and throws nothing (see Settle),
// the inflight count still drops, and the cleanup hook, which runs after, closes the handles.
#include "store.h"
#include "exports.h"

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

extern "C" {
#include "steadfast/store.h"
}

namespace {

struct Registry;
struct Committer;
struct Handle;
void StopCommitter(Handle* handle);

struct Handle {
  enum class Kind { kCheckpoint, kLog };
  explicit Handle(Kind k) : kind(k) {}

  const Kind kind;
  sf_ckpt_t* ckpt = nullptr;
  sf_log_t* log = nullptr;
  uint32_t inflight = 0;  // workers queued or running on this handle, and commits asked for and not settled
  bool closing = false;   // close() was called: no new work is accepted
  std::vector<Napi::Promise::Deferred> close_waiters;
  Registry* registry = nullptr;    // null once the environment's cleanup hook has run
  Committer* committer = nullptr;  // a log's commit thread, from its first commit until it closes

  bool Open() const {
    return !closing && (ckpt != nullptr || log != nullptr);
  }

  // Synchronous close, for the finalizer and the cleanup hooks, when no work can be running.
  void CloseNow() {
    StopCommitter(this);
    if (ckpt != nullptr) sf_ckpt_close(ckpt);
    if (log != nullptr) sf_log_close(log);
    ckpt = nullptr;
    log = nullptr;
  }
};

// The handles of one environment (the main thread and each worker thread have their own).
struct Registry {
  std::set<Handle*> handles;
};

void CleanupRegistry(void* arg) {
  Registry* registry = static_cast<Registry*>(arg);
  for (Handle* handle : registry->handles) {
    handle->CloseNow();
    handle->registry = nullptr;  // the External's finalizer may still run after this hook
  }
  delete registry;
}

void FinalizeHandle(Napi::Env, Handle* handle) {
  handle->CloseNow();
  if (handle->registry != nullptr) handle->registry->handles.erase(handle);
  delete handle;
}

Napi::Value NullableString(Napi::Env env, const char* chars, size_t capacity) {
  if (chars[0] == '\0') return env.Null();
  return Napi::String::New(env, SfCString(chars, capacity));
}

Napi::Number Num(Napi::Env env, uint64_t value) {
  return Napi::Number::New(env, static_cast<double>(value));
}

Napi::Number SignedNum(Napi::Env env, int64_t value) {
  return Napi::Number::New(env, static_cast<double>(value));
}

// Empty strings and no details. Not a memset: the struct is 4.6 KiB, and logAppend makes one per record.
void InitError(sf_store_error_t* err) {
  err->code = 0;
  err->path[0] = '\0';
  err->message[0] = '\0';
  err->offset = -1;
  err->lsn_first = err->lsn_last = 0;
  err->pid = 0;
}

// The Error a failed call rejects with: code = sf_store_error_name(rc), errno = rc, message = the C
// message and the path, and the details C filled in. src/store/errors.ts turns it into a StoreError.
Napi::Error StoreErrorObject(Napi::Env env, int rc, const sf_store_error_t& err) {
  std::string message = SfCString(err.message, sizeof err.message);
  if (message.empty()) message = rc > -30000 && rc < 0 ? std::strerror(-rc) : sf_store_error_name(rc);
  std::string path = SfCString(err.path, sizeof err.path);
  if (!path.empty()) message += ": " + path;
  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object object = error.Value();
  object.Set("code", sf_store_error_name(rc));
  object.Set("errno", Napi::Number::New(env, rc));
  if (!path.empty()) object.Set("path", path);
  if (err.offset >= 0) object.Set("offset", SignedNum(env, err.offset));
  if (err.lsn_first != 0) object.Set("lsnFirst", Num(env, err.lsn_first));
  if (err.lsn_last != 0) object.Set("lsnLast", Num(env, err.lsn_last));
  if (err.pid != 0) object.Set("pid", SignedNum(env, err.pid));
  return error;
}

Napi::Error ClosedError(Napi::Env env) {
  sf_store_error_t err;
  InitError(&err);
  std::snprintf(err.message, sizeof err.message, "the handle is closed");
  return StoreErrorObject(env, SF_ECLOSED, err);
}

Napi::Value Rejected(Napi::Env env, const Napi::Error& error) {
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(error.Value());
  return deferred.Promise();
}

Handle* HandleArg(const Napi::CallbackInfo& info, Handle::Kind kind) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "handle must be a store handle");
  Handle* handle = info[0].As<Napi::External<Handle>>().Data();
  if (handle->kind != kind) throw Napi::TypeError::New(info.Env(), "handle is of the wrong kind");
  return handle;
}

Napi::Uint8Array BytesArg(const Napi::CallbackInfo& info, size_t i) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(info.Env(), "data must be a Uint8Array");
  }
  return info[i].As<Napi::Uint8Array>();
}

uint64_t U64Arg(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
}

std::vector<std::string> StringsArg(const Napi::CallbackInfo& info, size_t i) {
  Napi::Array array = info[i].As<Napi::Array>();
  std::vector<std::string> strings;
  for (uint32_t k = 0; k < array.Length(); k++) strings.push_back(array.Get(k).As<Napi::String>().Utf8Value());
  return strings;
}

// ---- Workers --------------------------------------------------------------------------------------

// Settles deferred with what build returns: build(resolve) returns the value and may set resolve to
// false to reject with it; a Napi::Error it throws becomes the rejection. When a worker thread is
// terminated with work in flight, Node still completes that work while the environment is torn down,
// where every N-API call fails and node-addon-api throws a Napi::Error for it. Such an error must not
// escape OnOK (it cannot be thrown into JS, and an exception escaping there ends the process), so a
// failure to settle is dropped: it happens only when no JS can run any more to observe the promise.
// The deferred is concluded at most once (N-API frees it when it concludes).
// (NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS covers what could escape elsewhere.)
template <typename Build>
void Settle(Napi::Promise::Deferred& deferred, Build&& build) {
  try {
    bool resolve = true;
    Napi::Value value;
    try {
      value = build(resolve);
    } catch (const Napi::Error& error) {
      resolve = false;
      value = error.Value();
    }
    if (resolve) {
      deferred.Resolve(value);
    } else {
      deferred.Reject(value);
    }
  } catch (const Napi::Error&) {
    // The environment is shutting down: nothing is left to settle.
  }
}

// One C call on libuv's pool, settling a promise. Run() is the C call (pool thread); Result() builds
// the resolution value (JS thread). Failures never go through AsyncWorker::SetError: OnOK sees rc_.
class Work : public Napi::AsyncWorker {
 public:
  Work(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {
    InitError(&err_);
  }

  // Queues the work; the returned promise settles in OnOK. If it cannot be queued, the work is deleted
  // (nothing else would delete it) and the error propagates to the caller, which throws it into JS.
  Napi::Value Start() {
    Napi::Promise promise = deferred_.Promise();
    try {
      Queue();
    } catch (...) {
      NotQueued();
      delete this;
      throw;
    }
    Queued();
    return promise;
  }

 protected:
  virtual int Run() = 0;
  virtual Napi::Value Result(Napi::Env env) {
    return env.Undefined();
  }
  // Called on the JS thread once the work is queued, so that OnOK is certain to run (HandleWork counts
  // itself here; nothing on the pool reads the count). Execute may already be running.
  virtual void Queued() {}
  // Called if the work could not be queued, just before it is deleted.
  virtual void NotQueued() {}

  void Execute() override {
    rc_ = Run();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Settle(deferred_, [&](bool& resolve) -> Napi::Value {
      if (rc_ == 0) return Result(env);
      resolve = false;
      return StoreErrorObject(env, rc_, err_).Value();
    });
  }

  // Not reached (SetError is never called), but a rejection is the only sane answer if it were.
  void OnError(const Napi::Error& error) override {
    Settle(deferred_, [&](bool& resolve) -> Napi::Value {
      resolve = false;
      return error.Value();
    });
  }

  sf_store_error_t err_;
  int rc_ = 0;
  Napi::Promise::Deferred deferred_;
};

void StartClose(Napi::Env env, Handle* handle, Napi::External<Handle> external);

// Called when work on the handle has settled: starts the close that waited for the last of it. Settle
// first, then close: a close waiting for the work resolves after the work's own promise.
void AfterWork(Napi::Env env, Handle* handle, Napi::External<Handle> external) {
  if (handle->inflight != 0 || !handle->closing || (handle->ckpt == nullptr && handle->log == nullptr)) return;
  try {
    StartClose(env, handle, external);
  } catch (const Napi::Error& error) {
    // Only during teardown, in practice; the environment's cleanup hook then closes the handle.
    std::vector<Napi::Promise::Deferred> waiters = std::move(handle->close_waiters);
    handle->close_waiters.clear();
    for (Napi::Promise::Deferred& waiter : waiters) {
      Settle(waiter, [&](bool& resolve) -> Napi::Value {
        resolve = false;
        return error.Value();
      });
    }
  }
}

// Work on an open handle. Keeps the handle's External alive and counted until the work has finished.
class HandleWork : public Work {
 public:
  HandleWork(Napi::Env env, const char* name, const Napi::CallbackInfo& info, Handle* handle)
      : Work(env, name), handle_(handle), external_(Napi::Persistent(info[0].As<Napi::External<Handle>>())) {}

 protected:
  void Queued() override {
    handle_->inflight++;
  }

  void OnOK() override {
    Finish([&] { Work::OnOK(); });
  }
  void OnError(const Napi::Error& error) override {
    Finish([&] { Work::OnError(error); });
  }

  Handle* handle_;
  Napi::Reference<Napi::External<Handle>> external_;

 private:
  // Settles (Settle never throws), drops the count, then starts a close that waited for it.
  template <typename Fn>
  void Finish(Fn&& settle) {
    struct InflightGuard {  // the count drops however settle leaves
      Handle* handle;
      ~InflightGuard() {
        handle->inflight--;
      }
    };
    {
      InflightGuard guard{handle_};
      settle();
    }
    AfterWork(Env(), handle_, external_.Value());
  }
};

// Starts a W (a HandleWork) on the open handle of kind K in info[0], with the arguments the caller
// read; a closed handle rejects with SF_CLOSED.
template <typename W, Handle::Kind K, typename... Args>
Napi::Value StartOnHandle(const Napi::CallbackInfo& info, Args&&... args) {
  Handle* handle = HandleArg(info, K);
  if (!handle->Open()) return Rejected(info.Env(), ClosedError(info.Env()));
  return (new W(info, handle, std::forward<Args>(args)...))->Start();
}

class CloseWork : public Work {
 public:
  CloseWork(Napi::Env env, Handle* handle, Napi::External<Handle> external)
      : Work(env, "steadfast:close"), handle_(handle), external_(Napi::Persistent(external)) {
    // No commit is running or asked for (inflight is 0): the commit thread stops at once.
    StopCommitter(handle);
    // Taken out of the handle now, before Execute can run, so that nothing started from here on can
    // reach them.
    ckpt_ = handle->ckpt;
    log_ = handle->log;
    handle->ckpt = nullptr;
    handle->log = nullptr;
  }

 protected:
  // A close that could not be queued (during teardown) gives them back for the cleanup hook to close.
  void NotQueued() override {
    handle_->ckpt = ckpt_;
    handle_->log = log_;
  }

  int Run() override {
    if (ckpt_ != nullptr) sf_ckpt_close(ckpt_);
    if (log_ != nullptr) sf_log_close(log_);
    return 0;
  }

  void OnOK() override {
    std::vector<Napi::Promise::Deferred> waiters = std::move(handle_->close_waiters);
    handle_->close_waiters.clear();
    for (Napi::Promise::Deferred& waiter : waiters) Settle(waiter, [&](bool&) { return Env().Undefined(); });
    Settle(deferred_, [&](bool&) { return Env().Undefined(); });
  }

 private:
  Handle* handle_;
  Napi::Reference<Napi::External<Handle>> external_;
  sf_ckpt_t* ckpt_ = nullptr;
  sf_log_t* log_ = nullptr;
};

void StartClose(Napi::Env env, Handle* handle, Napi::External<Handle> external) {
  (new CloseWork(env, handle, external))->Start();
}

// (handle) -> Promise<void>. Closing a closed handle resolves at once.
Napi::Value CloseHandle(const Napi::CallbackInfo& info, Handle::Kind kind) {
  Napi::Env env = info.Env();
  Handle* handle = HandleArg(info, kind);
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (handle->ckpt == nullptr && handle->log == nullptr && handle->close_waiters.empty()) {
    deferred.Resolve(env.Undefined());
    return deferred.Promise();
  }
  handle->close_waiters.push_back(deferred);
  if (!handle->closing) {
    handle->closing = true;
    if (handle->inflight == 0) StartClose(env, handle, info[0].As<Napi::External<Handle>>());
  }
  return deferred.Promise();
}

Napi::Value NewHandle(Napi::Env env, Registry* registry, Handle* handle) {
  handle->registry = registry;
  registry->handles.insert(handle);
  return Napi::External<Handle>::New(env, handle, FinalizeHandle);
}

Registry* RegistryOf(const Napi::CallbackInfo& info) {
  return static_cast<Registry*>(info.Data());
}

Napi::Object CheckpointFileObject(Napi::Env env, const sf_ckpt_file_t& f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", SfCString(f.path, sizeof f.path));
  o.Set("generation", Num(env, f.generation));
  o.Set("size", Num(env, f.size));
  o.Set("payloadLength", Num(env, f.payload_len));
  o.Set("lsn", Num(env, f.lsn));
  o.Set("createdMs", Num(env, f.created_ns / 1000000));
  o.Set("versionMajor", Num(env, f.version_major));
  o.Set("versionMinor", Num(env, f.version_minor));
  o.Set("chunkSize", Num(env, f.chunk_size));
  o.Set("code", f.status == 0 ? env.Null() : Napi::String::New(env, sf_store_error_name(f.status)));
  o.Set("problem", NullableString(env, f.problem, sizeof f.problem));
  o.Set("badOffset", f.bad_offset < 0 ? env.Null() : SignedNum(env, f.bad_offset));
  return o;
}

Napi::Array CheckpointFileArray(Napi::Env env, const sf_ckpt_file_t* files, size_t count) {
  Napi::Array array = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) array.Set(static_cast<uint32_t>(i), CheckpointFileObject(env, files[i]));
  return array;
}

// ---- Checkpoint store -----------------------------------------------------------------------------

class CkptOpenWork : public Work {
 public:
  CkptOpenWork(Napi::Env env, Registry* registry, std::vector<std::string> dirs, uint32_t keep, uint32_t chunk)
      : Work(env, "steadfast:ckptOpen"), registry_(registry), dirs_(std::move(dirs)), keep_(keep), chunk_(chunk) {}
  ~CkptOpenWork() override {
    if (store_ != nullptr) sf_ckpt_close(store_);  // opened, but never handed to JS
  }

 protected:
  int Run() override {
    std::vector<const char*> dirs;
    for (const std::string& dir : dirs_) dirs.push_back(dir.c_str());
    sf_ckpt_options_t options = {dirs.data(), dirs.size(), keep_, chunk_, nullptr};
    return sf_ckpt_open(&options, &store_, &err_);
  }

  Napi::Value Result(Napi::Env env) override {
    Handle* handle = new Handle(Handle::Kind::kCheckpoint);
    handle->ckpt = store_;
    store_ = nullptr;
    return NewHandle(env, registry_, handle);
  }

 private:
  Registry* registry_;
  std::vector<std::string> dirs_;
  uint32_t keep_, chunk_;
  sf_ckpt_t* store_ = nullptr;
};

// (dirs: string[], keep: uint32, chunkSize: uint32) -> Promise<handle>
Napi::Value CkptOpen(const Napi::CallbackInfo& info) {
  return (new CkptOpenWork(info.Env(), RegistryOf(info), StringsArg(info, 0), info[1].As<Napi::Number>().Uint32Value(),
                           info[2].As<Napi::Number>().Uint32Value()))
      ->Start();
}

// (handle) -> Promise<void>
Napi::Value CkptClose(const Napi::CallbackInfo& info) {
  return CloseHandle(info, Handle::Kind::kCheckpoint);
}

class CkptSaveWork : public HandleWork {
 public:
  CkptSaveWork(const Napi::CallbackInfo& info, Handle* handle, Napi::Uint8Array data, uint64_t lsn)
      : HandleWork(info.Env(), "steadfast:ckptSave", info, handle),
        data_ref_(Napi::Persistent(data)),  // the bytes stay alive (and unmoved) while the pool reads them
        data_(data.Data()),
        len_(data.ByteLength()),
        lsn_(lsn) {}

 protected:
  int Run() override {
    int rc = sf_ckpt_save(handle_->ckpt, data_, len_, lsn_, &generation_, &err_);
    crc_ns_ = sf_ckpt_last_save_crc_ns(handle_->ckpt);
    return rc;
  }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("generation", Num(env, generation_));
    result.Set("crcMs", Napi::Number::New(env, static_cast<double>(crc_ns_) / 1e6));
    return result;
  }

 private:
  Napi::Reference<Napi::Uint8Array> data_ref_;
  const uint8_t* data_;
  size_t len_;
  uint64_t lsn_;
  uint64_t generation_ = 0;
  uint64_t crc_ns_ = 0;
};

// (handle, data: Uint8Array, lsn: safe integer) -> Promise<{ generation, crcMs }>
Napi::Value CkptSave(const Napi::CallbackInfo& info) {
  return StartOnHandle<CkptSaveWork, Handle::Kind::kCheckpoint>(info, BytesArg(info, 1), U64Arg(info, 2));
}

const char* ActionName(sf_ckpt_action_t action) {
  switch (action) {
    case SF_CKPT_REWROTE:
      return "rewrote";
    case SF_CKPT_RESTORED:
      return "restored";
    case SF_CKPT_MOVED_ASIDE:
      return "moved-aside";
  }
  return "unknown";
}

class CkptLoadWork : public HandleWork {
 public:
  CkptLoadWork(const Napi::CallbackInfo& info, Handle* handle)
      : HandleWork(info.Env(), "steadfast:ckptLoad", info, handle) {
    std::memset(&loaded_, 0, sizeof loaded_);
  }
  ~CkptLoadWork() override {
    sf_ckpt_loaded_free(&loaded_);
  }

 protected:
  int Run() override {
    return sf_ckpt_load(handle_->ckpt, &loaded_, &err_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("generation", Num(env, loaded_.generation));
    o.Set("lsn", Num(env, loaded_.lsn));
    o.Set("createdMs", Num(env, loaded_.created_ns / 1000000));
    if (loaded_.generation == 0) {
      o.Set("payload", env.Null());
    } else if (loaded_.len == 0 || loaded_.payload == nullptr) {
      o.Set("payload", Napi::Buffer<uint8_t>::New(env, 0));
    } else {
      // The malloc'd payload becomes the Buffer's memory (copied only where external buffers are not
      // allowed); free() runs when the Buffer is collected.
      uint8_t* payload = static_cast<uint8_t*>(loaded_.payload);
      loaded_.payload = nullptr;
      o.Set("payload",
            Napi::Buffer<uint8_t>::NewOrCopy(env, payload, loaded_.len, [](Napi::Env, uint8_t* p) { std::free(p); }));
    }
    o.Set("fellBack", loaded_.fell_back != 0);
    o.Set("newestSeen", Num(env, loaded_.newest_seen));
    o.Set("pieced", loaded_.chunks_pieced != 0);
    Napi::Array repairs = Napi::Array::New(env, loaded_.repair_count);
    for (size_t i = 0; i < loaded_.repair_count; i++) {
      const sf_ckpt_repair_t& r = loaded_.repairs[i];
      Napi::Object repair = Napi::Object::New(env);
      repair.Set("action", ActionName(r.action));
      repair.Set("generation", Num(env, r.generation));
      repair.Set("path", SfCString(r.path, sizeof r.path));
      repair.Set("problem", SfCString(r.problem, sizeof r.problem));
      repairs.Set(static_cast<uint32_t>(i), repair);
    }
    o.Set("repairs", repairs);
    return o;
  }

 private:
  sf_ckpt_loaded_t loaded_;
};

// (handle) -> Promise<{ generation, lsn, createdMs, payload: Buffer | null, fellBack, newestSeen, pieced, repairs }>
Napi::Value CkptLoad(const Napi::CallbackInfo& info) {
  return StartOnHandle<CkptLoadWork, Handle::Kind::kCheckpoint>(info);
}

class CkptListWork : public HandleWork {
 public:
  CkptListWork(const Napi::CallbackInfo& info, Handle* handle)
      : HandleWork(info.Env(), "steadfast:ckptList", info, handle) {}
  ~CkptListWork() override {
    std::free(files_);
  }

 protected:
  int Run() override {
    return sf_ckpt_list(handle_->ckpt, &files_, &count_, &err_);
  }
  Napi::Value Result(Napi::Env env) override {
    return CheckpointFileArray(env, files_, count_);
  }

 private:
  sf_ckpt_file_t* files_ = nullptr;
  size_t count_ = 0;
};

// (handle) -> Promise<file[]>
Napi::Value CkptList(const Napi::CallbackInfo& info) {
  return StartOnHandle<CkptListWork, Handle::Kind::kCheckpoint>(info);
}

class CkptInspectWork : public Work {
 public:
  CkptInspectWork(Napi::Env env, std::vector<std::string> dirs)
      : Work(env, "steadfast:ckptInspect"), dirs_(std::move(dirs)) {}
  ~CkptInspectWork() override {
    std::free(files_);
  }

 protected:
  int Run() override {
    std::vector<const char*> dirs;
    for (const std::string& dir : dirs_) dirs.push_back(dir.c_str());
    return sf_ckpt_inspect(dirs.data(), dirs.size(), nullptr, &files_, &count_, &err_);
  }
  Napi::Value Result(Napi::Env env) override {
    return CheckpointFileArray(env, files_, count_);
  }

 private:
  std::vector<std::string> dirs_;
  sf_ckpt_file_t* files_ = nullptr;
  size_t count_ = 0;
};

// (dirs: string[]) -> Promise<file[]>
Napi::Value CkptInspect(const Napi::CallbackInfo& info) {
  return (new CkptInspectWork(info.Env(), StringsArg(info, 0)))->Start();
}

// ---- Append log -----------------------------------------------------------------------------------

class LogOpenWork : public Work {
 public:
  LogOpenWork(Napi::Env env, Registry* registry, std::string dir, uint64_t segment_size, bool point_in_time)
      : Work(env, "steadfast:logOpen"),
        registry_(registry),
        dir_(std::move(dir)),
        segment_size_(segment_size),
        point_in_time_(point_in_time) {
    std::memset(&recovery_, 0, sizeof recovery_);
  }
  ~LogOpenWork() override {
    if (log_ != nullptr) sf_log_close(log_);  // opened, but never handed to JS
  }

 protected:
  int Run() override {
    sf_log_options_t options = {dir_.c_str(), segment_size_, point_in_time_ ? 1 : 0, nullptr};
    return sf_log_open(&options, &log_, &recovery_, &err_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Object r = Napi::Object::New(env);
    r.Set("firstLsn", Num(env, recovery_.first_lsn));
    r.Set("lastLsn", Num(env, recovery_.last_lsn));
    r.Set("segments", Num(env, recovery_.segments));
    r.Set("tornBytes", Num(env, recovery_.torn_bytes));
    r.Set("tornPath", NullableString(env, recovery_.torn_path, sizeof recovery_.torn_path));
    r.Set("droppedRecords", Num(env, recovery_.dropped_records));
    r.Set("droppedFirstLsn", Num(env, recovery_.dropped_first_lsn));
    r.Set("droppedLastLsn", Num(env, recovery_.dropped_last_lsn));
    r.Set("corruptPath", NullableString(env, recovery_.corrupt_path, sizeof recovery_.corrupt_path));
    r.Set("corruptOffset", recovery_.corrupt_offset < 0 ? env.Null() : SignedNum(env, recovery_.corrupt_offset));
    Handle* handle = new Handle(Handle::Kind::kLog);
    handle->log = log_;
    log_ = nullptr;
    Napi::Object o = Napi::Object::New(env);
    o.Set("handle", NewHandle(env, registry_, handle));
    o.Set("recovery", r);
    return o;
  }

 private:
  Registry* registry_;
  std::string dir_;
  uint64_t segment_size_;
  bool point_in_time_;
  sf_log_t* log_ = nullptr;
  sf_log_recovery_t recovery_;
};

// (dir: string, segmentSize: safe integer, pointInTime: boolean) -> Promise<{ handle, recovery }>
Napi::Value LogOpen(const Napi::CallbackInfo& info) {
  return (new LogOpenWork(info.Env(), RegistryOf(info), info[0].As<Napi::String>().Utf8Value(), U64Arg(info, 1),
                          info[2].ToBoolean().Value()))
      ->Start();
}

// (handle) -> Promise<void>
Napi::Value LogClose(const Napi::CallbackInfo& info) {
  return CloseHandle(info, Handle::Kind::kLog);
}

// (handle, data: Uint8Array) -> lsn. Frames and queues the record in memory; throws a coded Error.
Napi::Value LogAppend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* handle = HandleArg(info, Handle::Kind::kLog);
  if (!handle->Open()) throw ClosedError(env);
  Napi::Uint8Array data = BytesArg(info, 1);
  sf_store_error_t err;
  InitError(&err);
  uint64_t lsn = 0;
  int rc = sf_log_append(handle->log, data.Data(), data.ByteLength(), &lsn, &err);
  if (rc != 0) throw StoreErrorObject(env, rc, err);
  return Num(env, lsn);
}

// ---- The commit thread ----------------------------------------------------------------------------
//
// A log's commits run on a thread of its own, started by its first commit, instead of an AsyncWorker
// each. A commit is on the critical path of every append: writers that each wait for their own record
// (`await log.append(x)` in a loop) get records per commit / (fdatasync + the hand-offs around it)
// records per second, and the hand-offs of an AsyncWorker (allocate and queue the work, wake a pool
// thread, wake the JS thread, free the work) cost more than a thread that sleeps on a condition
// variable between commits and answers through a thread-safe function. Measured in paired rounds on
// the 2-vCPU VM, 64 writers of 100-byte records: 1.09x to 1.13x the records per second (median ~345k
// against ~315k; the fdatasync itself is ~145 us of a ~190 us cycle). Two variants measured no better:
// spinning for the next request instead of sleeping (0.9x: with two CPUs, the spinning thread took the
// CPU the woken JS thread needed), and yielding while waiting (1.02x, within the noise).
//
// Threads: the commit thread touches only the fields under mu, the C log (sf_log_commit) and
// CommitTsfn::NonBlockingCall. Everything else is the JS thread's.
// Lifetime: StopCommitter (JS thread) joins the thread, releases the thread-safe function and takes the
// Committer out of its Handle; the function's finalizer, which runs after every delivery still queued,
// deletes it (deliveries after the stop find `stopped` and do nothing). StopCommitter runs when the log
// closes (when no commit is asked for), when the External is collected (no commit is asked for either:
// a commit asked for holds the External), and from the environment cleanup hook registered just after
// the function is created, so that at teardown the thread is joined while the function is still valid.
struct CommitResult {
  uint32_t requests;  // the commits asked for that this one answers: the oldest waiters
  int rc;
  uint64_t durable;
  sf_store_error_t err;
};

void DeliverCommit(Napi::Env env, Napi::Function, Committer* committer, CommitResult* result);
using CommitTsfn = Napi::TypedThreadSafeFunction<Committer, CommitResult, DeliverCommit>;

struct Committer {
  Committer(napi_env e, Handle* h) : env(e), handle(h), log(h->log) {}

  // JS thread only.
  napi_env env;
  Handle* handle;
  CommitTsfn tsfn;
  bool hooked = false;  // the environment cleanup hook is registered
  bool stopped = false;
  std::deque<Napi::Promise::Deferred> waiters;       // commits asked for, oldest first
  Napi::Reference<Napi::External<Handle>> external;  // held while any is: keeps the Handle alive

  // Shared with the commit thread.
  sf_log_t* const log;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  uint32_t requests = 0;  // under mu: asked for and not yet taken by the thread
  bool stop = false;      // under mu
};

// The commit thread.
void CommitLoop(Committer* c) {
  for (;;) {
    uint32_t n;
    {
      std::unique_lock<std::mutex> lock(c->mu);
      c->cv.wait(lock, [c] { return c->requests != 0 || c->stop; });
      if (c->requests == 0) return;  // stopped
      n = c->requests;
      c->requests = 0;
    }
    CommitResult* result = new CommitResult;  // not value-initialized: err is 4.6 KiB, InitError suffices
    result->requests = n;
    result->durable = 0;
    InitError(&result->err);
    result->rc = sf_log_commit(c->log, &result->durable, &result->err);
    // Fails only while the environment is torn down, where no JS is left to tell.
    if (c->tsfn.NonBlockingCall(result) != napi_ok) delete result;
  }
}

void CommitterCleanupHook(void* arg) {
  Committer* committer = static_cast<Committer*>(arg);
  committer->hooked = false;  // running now: StopCommitter must not remove it
  StopCommitter(committer->handle);
}

void FinalizeCommitTsfn(Napi::Env, void*, Committer* committer) {
  delete committer;
}

// JS thread. Stops the handle's commit thread if it has one: joins it (a commit running finishes
// first), releases the function and forgets the Committer. Waiters still pending (only at teardown,
// when nothing can settle them) are dropped.
void StopCommitter(Handle* handle) {
  Committer* c = handle->committer;
  if (c == nullptr) return;
  handle->committer = nullptr;
  c->stopped = true;
  if (c->hooked) {
    c->hooked = false;
    napi_remove_env_cleanup_hook(c->env, CommitterCleanupHook, c);
  }
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->stop = true;
  }
  c->cv.notify_one();
  c->thread.join();
  c->handle->inflight -= static_cast<uint32_t>(c->waiters.size());
  c->waiters.clear();
  c->external.Reset();
  c->tsfn.Release();  // its finalizer deletes c
}

Committer* StartCommitter(Napi::Env env, Handle* handle) {
  std::unique_ptr<Committer> c(new Committer(env, handle));
  c->tsfn = CommitTsfn::New(env, "steadfast:logCommit", 0, 1, c.get(), FinalizeCommitTsfn);
  c->tsfn.Unref(env);                  // referenced only while a commit is asked for
  Committer* committer = c.release();  // from here on the function's finalizer deletes it
  // Without the hook, teardown could free the function before the thread is joined: refuse instead.
  if (napi_add_env_cleanup_hook(env, CommitterCleanupHook, committer) != napi_ok) {
    committer->tsfn.Release();
    throw Napi::Error::New(env, "cannot start the log's commit thread: no environment cleanup hook");
  }
  committer->hooked = true;
  try {
    committer->thread = std::thread(CommitLoop, committer);
  } catch (const std::system_error& e) {
    committer->hooked = false;
    napi_remove_env_cleanup_hook(env, CommitterCleanupHook, committer);
    committer->tsfn.Release();
    throw Napi::Error::New(env, std::string("cannot start the log's commit thread: ") + e.what());
  }
  return committer;
}

// JS thread: a commit ended. Settles the waiters it answers, oldest first.
void DeliverCommit(Napi::Env env, Napi::Function, Committer* c, CommitResult* r) {
  std::unique_ptr<CommitResult> result(r);
  if (env == nullptr || c->stopped) return;
  Handle* handle = c->handle;
  Napi::External<Handle> external = c->external.Value();
  uint32_t settled = 0;
  for (; settled < result->requests && !c->waiters.empty(); settled++) {
    Napi::Promise::Deferred waiter = c->waiters.front();
    c->waiters.pop_front();
    Settle(waiter, [&](bool& resolve) -> Napi::Value {
      if (result->rc == 0) return Num(env, result->durable);
      resolve = false;
      return StoreErrorObject(env, result->rc, result->err).Value();
    });
  }
  handle->inflight -= settled;
  if (c->waiters.empty()) {
    c->external.Reset();
    c->tsfn.Unref(env);
  }
  AfterWork(env, handle, external);
}

// (handle) -> Promise<durableLsn>: makes every record appended so far durable.
Napi::Value LogCommit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Handle* handle = HandleArg(info, Handle::Kind::kLog);
  if (!handle->Open()) return Rejected(env, ClosedError(env));
  if (handle->committer == nullptr) handle->committer = StartCommitter(env, handle);
  Committer* c = handle->committer;
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  if (c->waiters.empty()) {
    c->external = Napi::Persistent(info[0].As<Napi::External<Handle>>());
    c->tsfn.Ref(env);
  }
  c->waiters.push_back(deferred);
  handle->inflight++;
  {
    std::lock_guard<std::mutex> lock(c->mu);
    c->requests++;
  }
  c->cv.notify_one();
  return deferred.Promise();
}

class LogReadWork : public HandleWork {
 public:
  LogReadWork(const Napi::CallbackInfo& info, Handle* handle, uint64_t from, size_t max_bytes)
      : HandleWork(info.Env(), "steadfast:logRead", info, handle), from_(from), max_bytes_(max_bytes) {}

 protected:
  struct Entry {
    uint64_t lsn;
    size_t offset, len;
  };

  // The record's bytes are only valid during the callback, so they are copied into one block here, on
  // the pool thread, and into one Buffer per record in Result.
  static int Collect(const sf_log_record_t* record, void* arg) {
    LogReadWork* self = static_cast<LogReadWork*>(arg);
    const uint8_t* bytes = static_cast<const uint8_t*>(record->data);
    self->entries_.push_back({record->lsn, self->block_.size(), record->len});
    self->block_.insert(self->block_.end(), bytes, bytes + record->len);
    return 0;
  }

  int Run() override {
    uint64_t next = 0;
    return sf_log_read(handle_->log, from_, max_bytes_, Collect, this, &next, &err_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array records = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); i++) {
      const Entry& e = entries_[i];
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, Num(env, e.lsn));
      pair.Set(1u, e.len == 0 ? Napi::Buffer<uint8_t>::New(env, 0)
                              : Napi::Buffer<uint8_t>::Copy(env, block_.data() + e.offset, e.len));
      records.Set(static_cast<uint32_t>(i), pair);
    }
    return records;
  }

 private:
  uint64_t from_;
  size_t max_bytes_;
  std::vector<Entry> entries_;
  std::vector<uint8_t> block_;
};

// (handle, fromLsn, maxBytes) -> Promise<[lsn, Buffer][]>; empty at the end of the durable records.
Napi::Value LogRead(const Napi::CallbackInfo& info) {
  return StartOnHandle<LogReadWork, Handle::Kind::kLog>(info, U64Arg(info, 1), static_cast<size_t>(U64Arg(info, 2)));
}

class LogTruncateWork : public HandleWork {
 public:
  LogTruncateWork(const Napi::CallbackInfo& info, Handle* handle, uint64_t lsn)
      : HandleWork(info.Env(), "steadfast:logTruncateBefore", info, handle), lsn_(lsn) {}

 protected:
  int Run() override {
    return sf_log_truncate_before(handle_->log, lsn_, &removed_, &err_);
  }
  Napi::Value Result(Napi::Env env) override {
    return Num(env, removed_);
  }

 private:
  uint64_t lsn_;
  uint64_t removed_ = 0;
};

// (handle, lsn) -> Promise<segments removed>
Napi::Value LogTruncateBefore(const Napi::CallbackInfo& info) {
  return StartOnHandle<LogTruncateWork, Handle::Kind::kLog>(info, U64Arg(info, 1));
}

class LogInspectWork : public Work {
 public:
  LogInspectWork(Napi::Env env, std::string dir) : Work(env, "steadfast:logInspect"), dir_(std::move(dir)) {}
  ~LogInspectWork() override {
    std::free(segments_);
  }

 protected:
  int Run() override {
    return sf_log_inspect(dir_.c_str(), nullptr, &segments_, &count_, &err_);
  }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array array = Napi::Array::New(env, count_);
    for (size_t i = 0; i < count_; i++) {
      const sf_log_segment_t& s = segments_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("path", SfCString(s.path, sizeof s.path));
      o.Set("size", Num(env, s.size));
      o.Set("dataEnd", Num(env, s.data_end));
      o.Set("firstLsn", Num(env, s.first_lsn));
      o.Set("lastLsn", Num(env, s.last_lsn));
      o.Set("records", Num(env, s.records));
      o.Set("salt", Num(env, s.salt));
      o.Set("code", s.status == 0 ? env.Null() : Napi::String::New(env, sf_store_error_name(s.status)));
      o.Set("problem", NullableString(env, s.problem, sizeof s.problem));
      o.Set("problemOffset", s.problem_offset < 0 ? env.Null() : SignedNum(env, s.problem_offset));
      array.Set(static_cast<uint32_t>(i), o);
    }
    return array;
  }

 private:
  std::string dir_;
  sf_log_segment_t* segments_ = nullptr;
  size_t count_ = 0;
};

// (dir: string) -> Promise<segment[]>
Napi::Value LogInspect(const Napi::CallbackInfo& info) {
  return (new LogInspectWork(info.Env(), info[0].As<Napi::String>().Utf8Value()))->Start();
}

// (code: int) -> string: sf_store_error_name, no I/O.
Napi::Value StoreErrorName(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), sf_store_error_name(info[0].As<Napi::Number>().Int32Value()));
}

}  // namespace

void SfStoreInit(Napi::Env env, Napi::Object exports) {
  Registry* registry = new Registry();
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, CleanupRegistry, registry));
  static const SfExport entries[] = {
      {"storeErrorName", StoreErrorName},
      {"ckptOpen", CkptOpen},
      {"ckptClose", CkptClose},
      {"ckptSave", CkptSave},
      {"ckptLoad", CkptLoad},
      {"ckptList", CkptList},
      {"ckptInspect", CkptInspect},
      {"logOpen", LogOpen},
      {"logClose", LogClose},
      {"logAppend", LogAppend},
      {"logCommit", LogCommit},
      {"logRead", LogRead},
      {"logTruncateBefore", LogTruncateBefore},
      {"logInspect", LogInspect},
  };
  SfExportAll(env, exports, entries, registry);
}
