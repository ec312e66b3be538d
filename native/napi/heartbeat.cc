// heartbeat.cc: the Node-API glue for the heartbeat engine (steadfast/heartbeat.h). One small function
// per C function; src/heartbeat/*.ts checks arguments, applies defaults and words the errors, so
// everything here trusts its arguments' types. Enumerations cross as the names JS uses ('monitor',
// 'dead', 'hmac-sha256'...), 64-bit counters that must stay exact (incarnations, sequence numbers) as
// decimal strings or BigInts.
//
// Threads (the shape of parcel-bundler/watcher's binding):
// - JS thread: every function below, the External's finalizer, the thread-safe function's finalizer and
//   its call-JS callback (Deliver), and the environment cleanup hook. Engine's fields are touched only
//   there, so they need no lock.
// - Engine thread (owned by native/heartbeat/engine.c): only Notify, which does nothing but
//   Tsfn::NonBlockingCall. The engine calls it when its event queue goes from empty to non-empty, so
//   wake-ups coalesce; Deliver, on the JS thread, drains the queue and hands JS one array per wake-up.
//
// Lifetime: an Engine is shared by the External JS holds and by the thread-safe function (it is the
// function's context, so a delivery still queued when the engine stops must find it); whichever of the
// two finalizers runs last deletes it. Stopping is idempotent and always in this order: sf_hb_engine_stop
// (it joins the engine thread, so no Notify runs after it), then Release of the thread-safe function.
// Deliveries still queued then see hb == nullptr and do nothing.
//
// Teardown: each engine registers an environment cleanup hook when it starts. Node runs cleanup hooks in
// the reverse order of registration, so that hook runs before the thread-safe function's own one (the
// function is created just before the hook is added) and the engine thread is joined while the function
// is still valid. This covers a worker thread that exits, and the main thread's exit, with engines open.
#include "heartbeat.h"
#include "exports.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "steadfast/heartbeat.h"

namespace {

struct Engine;
void Deliver(Napi::Env env, Napi::Function on_events, Engine* engine, void* data);
using Tsfn = Napi::TypedThreadSafeFunction<Engine, void, Deliver>;

struct Engine {
  explicit Engine(napi_env e) : env(e) {}

  napi_env env;
  sf_hb_engine_t* hb = nullptr;  // null once stopped
  Tsfn tsfn;
  int refs = 0;         // the External and the thread-safe function (see Lifetime above)
  bool hooked = false;  // the environment cleanup hook is registered
};

// The most events one delivery hands JS; more are left for a delivery queued behind it, so that a
// flood of events cannot hold the JS thread in one call.
constexpr size_t kMaxBatch = 4096;
constexpr size_t kDrainChunk = 64;

void DropRef(Engine* engine) {
  if (--engine->refs == 0) delete engine;
}

void CleanupHook(void* arg);

// JS thread. Stops the engine if it runs: joins its thread (sending a LEAVING beat first if `leave`),
// then releases the thread-safe function, which was the engine thread's to call.
void Stop(Engine* engine, bool leave) {
  if (engine->hb == nullptr) return;
  sf_hb_engine_t* hb = engine->hb;
  engine->hb = nullptr;
  if (engine->hooked) {
    engine->hooked = false;
    napi_remove_env_cleanup_hook(engine->env, CleanupHook, engine);
  }
  sf_hb_engine_stop(hb, leave ? 1 : 0);
  engine->tsfn.Release();
}

// JS thread, while the environment is torn down with the engine still running.
void CleanupHook(void* arg) {
  Engine* engine = static_cast<Engine*>(arg);
  engine->hooked = false;  // running now: Stop must not remove it
  Stop(engine, false);
}

// JS thread: the External was collected, or the environment is going away. While the engine runs,
// the thread-safe function holds onEvents, which holds the Heartbeat and so the External; so the
// engine has been stopped by then (by JS or by CleanupHook), and Stop here is only a safety net.
void FinalizeExternal(Napi::Env, Engine* engine) {
  Stop(engine, false);
  DropRef(engine);
}

// JS thread: the thread-safe function is gone (released after Stop, or torn down with the environment).
void FinalizeTsfn(Napi::Env, void*, Engine* engine) {
  DropRef(engine);
}

// Engine thread. Must not call into the engine (steadfast/heartbeat.h): it only queues a delivery.
void Notify(void* user) {
  static_cast<Engine*>(user)->tsfn.NonBlockingCall();
}

// ---- Conversions --------------------------------------------------------------------------------

// The names JS uses, indexed by the C enumerations' values ("" for a value that has none).
const char* const kEventNames[] = {"", "alive", "suspect", "dead", "restarted", "stalled", "resumed", "left", "paused"};
const char* const kStateNames[] = {"unknown", "alive", "suspect", "dead", "left"};
const char* const kAuthNames[] = {"crc32c", "hmac-sha256", "siphash-2-4"};
const char* const kRoleNames[] = {"", "monitor", "agent", "mesh"};

template <size_t N>
const char* NameOf(const char* const (&names)[N], unsigned value) {
  return value < N && names[value][0] != '\0' ? names[value] : "unknown";
}

// The reverse of NameOf, from `first` on (the values before it are not JS's to pass). TS has checked the
// name; the throw only keeps a name this table lacks from becoming another value.
template <size_t N>
unsigned ValueOf(Napi::Env env, const char* const (&names)[N], unsigned first, const std::string& name,
                 const char* what) {
  for (unsigned value = first; value < N; value++) {
    if (name == names[value]) return value;
  }
  throw Napi::TypeError::New(env, std::string("unknown ") + what + ": " + name);
}

// The message of an error code: the C library's for an errno, a phrase for steadfast's own.
std::string Describe(int rc) {
  switch (rc) {
    case SF_EMALFORMED:
      return "malformed packet";
    case SF_EPROTO_VERSION:
      return "unknown protocol version";
    case SF_EAUTH:
      return "packet authentication failed";
    case SF_EREPLAY:
      return "replayed packet";
  }
  if (rc < 0 && rc > -30000) return std::strerror(-rc);
  return sf_hb_error_name(rc);
}

// The Error a failed call throws: code = sf_hb_error_name(rc), errno = rc, and the address concerned.
// src/heartbeat/errors.ts turns it into a HeartbeatError.
Napi::Error HbError(Napi::Env env, int rc, const std::string& what, const std::string& address) {
  Napi::Error error = Napi::Error::New(env, what + ": " + Describe(rc));
  Napi::Object object = error.Value();
  object.Set("code", sf_hb_error_name(rc));
  object.Set("errno", Napi::Number::New(env, rc));
  if (!address.empty()) object.Set("address", address);
  return error;
}

Napi::Error ClosedError(Napi::Env env) {
  Napi::Error error = Napi::Error::New(env, "the heartbeat is closed");
  error.Value().Set("code", "SF_CLOSED");
  return error;
}

// 'ip:port' or '[ip6]:port'; "" for an empty address (a `paused` event's).
std::string FormatAddress(const struct sockaddr_storage& ss, std::string* ip_out = nullptr,
                          uint16_t* port_out = nullptr) {
  char ip[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  std::string text;
  if (ss.ss_family == AF_INET) {
    const struct sockaddr_in* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
    text = std::string(ip) + ":" + std::to_string(port);
  } else if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6* a = reinterpret_cast<const struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
    text = "[" + std::string(ip) + "]:" + std::to_string(port);
  }
  if (ip_out != nullptr) *ip_out = ip;
  if (port_out != nullptr) *port_out = port;
  return text;
}

// host: a numeric IPv4 or IPv6 address without brackets, port: 0..65535 (src/heartbeat/options.ts's
// parseAddress checked both, on every path here).
void FillAddress(const std::string& host, uint32_t port, struct sockaddr_storage* ss, socklen_t* len) {
  std::memset(ss, 0, sizeof *ss);
  struct sockaddr_in* a4 = reinterpret_cast<struct sockaddr_in*>(ss);
  struct sockaddr_in6* a6 = reinterpret_cast<struct sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *a4;
  } else {
    inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *a6;
  }
}

Napi::Value Exact(Napi::Env env, uint64_t value) {
  return Napi::String::New(env, std::to_string(value));
}

Napi::Value MaybeMs(Napi::Env env, double ms) {
  return ms < 0 ? env.Null() : Napi::Number::New(env, ms);
}

// A BigInt of 0..2^64 - 1 (src/heartbeat/packet.ts's bigintField).
uint64_t U64Value(Napi::Value value) {
  bool lossless = true;
  return value.As<Napi::BigInt>().Uint64Value(&lossless);
}

// Copies a UTF-8 string of at most SF_HB_MAX_ID bytes into a NUL-terminated id field.
void CopyId(Napi::Env env, Napi::Value value, char out[SF_HB_MAX_ID + 1]) {
  std::string id = value.IsString() ? value.As<Napi::String>().Utf8Value() : std::string();
  if (id.size() > SF_HB_MAX_ID) throw Napi::RangeError::New(env, "id longer than 64 bytes");
  std::memcpy(out, id.data(), id.size());
  out[id.size()] = '\0';
}

// { id: 0..255, algorithm: 'hmac-sha256' | 'siphash-2-4', key: Uint8Array }
sf_hb_key_t KeyValue(Napi::Env env, Napi::Value value) {
  Napi::Object object = value.As<Napi::Object>();
  sf_hb_key_t key;
  std::memset(&key, 0, sizeof key);
  key.id = static_cast<uint8_t>(object.Get("id").As<Napi::Number>().Uint32Value());
  std::string algorithm = object.Get("algorithm").As<Napi::String>().Utf8Value();
  key.auth = static_cast<sf_hb_auth_t>(ValueOf(env, kAuthNames, SF_HB_AUTH_HMAC_SHA256, algorithm, "algorithm"));
  Napi::Uint8Array bytes = object.Get("key").As<Napi::Uint8Array>();
  if (bytes.ByteLength() > SF_HB_MAX_KEY_LEN) throw Napi::RangeError::New(env, "key longer than 64 bytes");
  key.len = static_cast<uint8_t>(bytes.ByteLength());
  std::memcpy(key.bytes, bytes.Data(), bytes.ByteLength());
  return key;
}

std::vector<sf_hb_key_t> KeysValue(Napi::Env env, Napi::Value value) {
  std::vector<sf_hb_key_t> keys;
  if (!value.IsArray()) return keys;
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() > SF_HB_MAX_KEYS) throw Napi::RangeError::New(env, "more than 4 keys");
  for (uint32_t i = 0; i < array.Length(); i++) keys.push_back(KeyValue(env, array.Get(i)));
  return keys;
}

Napi::Object EventObject(Napi::Env env, const sf_hb_event_t& ev) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", NameOf(kEventNames, ev.type));
  o.Set("id", SfCString(ev.id, sizeof ev.id));
  o.Set("address", FormatAddress(ev.addr));
  o.Set("incarnation", Exact(env, ev.incarnation));
  o.Set("previousIncarnation", Exact(env, ev.previous_incarnation));
  o.Set("phi", Napi::Number::New(env, ev.phi));
  o.Set("lastSeenMs", Napi::Number::New(env, ev.last_seen_ms));
  o.Set("rttMs", MaybeMs(env, ev.rtt_ms));
  o.Set("lagMs", MaybeMs(env, ev.lag_ms));
  o.Set("at", Napi::Number::New(env, ev.at_ms));
  return o;
}

Napi::Object MemberObject(Napi::Env env, const sf_hb_member_t& m) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", SfCString(m.id, sizeof m.id));
  o.Set("address", FormatAddress(m.addr));
  o.Set("state", NameOf(kStateNames, m.state));
  o.Set("stalled", m.stalled != 0);
  o.Set("incarnation", Exact(env, m.incarnation));
  o.Set("phi", Napi::Number::New(env, m.phi));
  o.Set("lastSeenMs", MaybeMs(env, m.last_seen_ms));
  o.Set("rttMs", MaybeMs(env, m.rtt_ms));
  o.Set("lagMs", MaybeMs(env, m.lag_ms));
  o.Set("meanIntervalMs", Napi::Number::New(env, m.mean_interval_ms));
  o.Set("beats", Napi::Number::New(env, static_cast<double>(m.beats)));
  return o;
}

// ---- Delivery (JS thread) -----------------------------------------------------------------------

// The thread-safe function's call-JS callback: drains the engine's queue and calls onEvents(events[])
// once. env is null when Node tears the function down with deliveries still queued.
void Deliver(Napi::Env env, Napi::Function on_events, Engine* engine, void*) {
  if (static_cast<napi_env>(env) == nullptr || engine == nullptr || engine->hb == nullptr) return;
  sf_hb_event_t chunk[kDrainChunk];
  Napi::Array events = Napi::Array::New(env);
  uint32_t count = 0;
  size_t got = 0;
  do {
    got = sf_hb_engine_drain(engine->hb, chunk, kDrainChunk);
    for (size_t i = 0; i < got; i++) events.Set(count++, EventObject(env, chunk[i]));
  } while (got == kDrainChunk && count < kMaxBatch);
  // Events may be left: the engine notifies only when its queue goes from empty to non-empty, so the
  // next delivery is queued here. Before onEvents runs, which may close the engine and release the
  // function.
  if (got == kDrainChunk) engine->tsfn.NonBlockingCall();
  if (count > 0) on_events.Call({events});
}

// ---- Engine functions (JS thread) ---------------------------------------------------------------

Engine* EngineArg(const Napi::CallbackInfo& info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "handle must be a heartbeat handle");
  return info[0].As<Napi::External<Engine>>().Data();
}

// An engine that still runs, or an SF_CLOSED error.
sf_hb_engine_t* RunningArg(const Napi::CallbackInfo& info) {
  Engine* engine = EngineArg(info);
  if (engine->hb == nullptr) throw ClosedError(info.Env());
  return engine->hb;
}

sf_hb_role_t RoleValue(Napi::Env env, Napi::Value value) {
  return static_cast<sf_hb_role_t>(ValueOf(env, kRoleNames, 1, value.As<Napi::String>().Utf8Value(), "role"));
}

template <typename T>
void OptionalNumber(Napi::Object object, const char* name, T* out) {
  Napi::Value value = object.Get(name);
  if (value.IsNumber()) *out = static_cast<T>(value.As<Napi::Number>().DoubleValue());
}

// The tuning fields of an options object (see HbStart) that are numbers, into opts.
void TuningValue(Napi::Object o, sf_hb_options_t* opts) {
  OptionalNumber(o, "intervalMs", &opts->interval_ms);
  OptionalNumber(o, "suspectPhi", &opts->suspect_phi);
  OptionalNumber(o, "deadPhi", &opts->dead_phi);
  OptionalNumber(o, "minStdDevMs", &opts->phi.min_std_dev_ms);
  OptionalNumber(o, "acceptablePauseMs", &opts->phi.acceptable_pause_ms);
  OptionalNumber(o, "stallMs", &opts->stall_ms);
  OptionalNumber(o, "indirectProbes", &opts->indirect_probes);
}

// (options: { role, id, host, port, onEvents, keys?, sendKeyId?, intervalMs?, suspectPhi?, deadPhi?,
//   minStdDevMs?, acceptablePauseMs?, stallMs?, indirectProbes? }) -> { handle, incarnation: decimal
//   string }. Fields left out keep sf_hb_options_init's defaults.
// Throws a coded Error (EADDRINUSE, EADDRNOTAVAIL, EACCES, EINVAL...) with `address`.
Napi::Value HbStart(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Function on_events = o.Get("onEvents").As<Napi::Function>();

  sf_hb_options_t opts;
  sf_hb_options_init(&opts);
  opts.role = RoleValue(env, o.Get("role"));
  CopyId(env, o.Get("id"), opts.id);
  FillAddress(o.Get("host").As<Napi::String>().Utf8Value(), o.Get("port").As<Napi::Number>().Uint32Value(), &opts.bind,
              &opts.bind_len);
  TuningValue(o, &opts);
  std::vector<sf_hb_key_t> keys = KeysValue(env, o.Get("keys"));
  for (size_t i = 0; i < keys.size(); i++) opts.keys[i] = keys[i];
  opts.nkeys = static_cast<uint32_t>(keys.size());
  OptionalNumber(o, "sendKeyId", &opts.send_key_id);
  std::string address = FormatAddress(opts.bind);

  Engine* engine = new Engine(env);
  try {
    engine->tsfn = Tsfn::New(env, on_events, "steadfast:heartbeat", 0, 1, engine, FinalizeTsfn);
  } catch (...) {
    delete engine;
    throw;
  }
  engine->refs = 1;  // the thread-safe function's
  opts.notify = Notify;
  opts.notify_user = engine;
  sf_hb_engine_t* hb = nullptr;
  int rc = sf_hb_engine_start(&opts, &hb);
  if (rc != 0) {
    engine->tsfn.Release();  // its finalizer deletes engine
    throw HbError(env, rc, "cannot start a heartbeat " + std::string(NameOf(kRoleNames, opts.role)) + " on " + address,
                  address);
  }
  engine->hb = hb;
  // Added after the thread-safe function was created, so that it runs before that function's own hook.
  // Without it, teardown could release the function before the engine thread that calls it is joined.
  engine->hooked = napi_add_env_cleanup_hook(env, CleanupHook, engine) == napi_ok;
  if (!engine->hooked) {
    Stop(engine, false);  // releases the thread-safe function, whose finalizer deletes engine
    throw Napi::Error::New(env, "cannot start a heartbeat " + std::string(NameOf(kRoleNames, opts.role)) + " on " +
                                    address + ": cannot register the environment cleanup hook");
  }
  engine->refs++;  // the External's
  // No delivery can run before this call returns (they run on this thread), so every one finds hb set.
  Napi::Object result = Napi::Object::New(env);
  result.Set("handle", Napi::External<Engine>::New(env, engine, FinalizeExternal));
  result.Set("incarnation", Exact(env, sf_hb_engine_incarnation(hb)));
  return result;
}

// (handle, leave: boolean) -> undefined. Stopping a stopped engine does nothing.
Napi::Value HbStop(const Napi::CallbackInfo& info) {
  Stop(EngineArg(info), info[1].ToBoolean().Value());
  return info.Env().Undefined();
}

// (handle) -> undefined: the engine no longer keeps the event loop alive.
Napi::Value HbUnref(const Napi::CallbackInfo& info) {
  Engine* engine = EngineArg(info);
  if (engine->hb != nullptr) engine->tsfn.Unref(info.Env());
  return info.Env().Undefined();
}

// (handle) -> { address, family: 'IPv4' | 'IPv6', port }
Napi::Value HbAddress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  std::memset(&ss, 0, sizeof ss);
  int rc = sf_hb_engine_address(RunningArg(info), &ss, &len);
  if (rc != 0) throw HbError(env, rc, "cannot read the socket's address", "");
  std::string ip;
  uint16_t port = 0;
  FormatAddress(ss, &ip, &port);
  Napi::Object o = Napi::Object::New(env);
  o.Set("address", ip);
  o.Set("family", ss.ss_family == AF_INET6 ? "IPv6" : "IPv4");
  o.Set("port", Napi::Number::New(env, port));
  return o;
}

// The (host, port) arguments at info[index], info[index + 1].
struct AddressArg {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  std::string text;
  const struct sockaddr* sa() const {
    return reinterpret_cast<const struct sockaddr*>(&ss);
  }
};

AddressArg AddressArgAt(const Napi::CallbackInfo& info, size_t index) {
  AddressArg a;
  FillAddress(info[index].As<Napi::String>().Utf8Value(), info[index + 1].As<Napi::Number>().Uint32Value(), &a.ss,
              &a.len);
  a.text = FormatAddress(a.ss);
  return a;
}

// (handle, host, port) -> undefined: Change applied to the target at that address; its error is thrown
// as "cannot VERB peer ADDRESS" (ENOENT from remove: it was not a target).
template <int (*Change)(sf_hb_engine_t*, const struct sockaddr*, socklen_t)>
Napi::Value ChangeTarget(const Napi::CallbackInfo& info, const char* verb) {
  sf_hb_engine_t* hb = RunningArg(info);
  AddressArg a = AddressArgAt(info, 1);
  int rc = Change(hb, a.sa(), a.len);
  if (rc != 0) throw HbError(info.Env(), rc, std::string("cannot ") + verb + " peer " + a.text, a.text);
  return info.Env().Undefined();
}

Napi::Value HbAddTarget(const Napi::CallbackInfo& info) {
  return ChangeTarget<sf_hb_engine_add_target>(info, "add");
}

Napi::Value HbRemoveTarget(const Napi::CallbackInfo& info) {
  return ChangeTarget<sf_hb_engine_remove_target>(info, "remove");
}

// (handle, id) -> undefined. Throws ENOENT if no such peer.
Napi::Value HbForget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_hb_engine_t* hb = RunningArg(info);
  char id[SF_HB_MAX_ID + 1];
  CopyId(env, info[1], id);
  int rc = sf_hb_engine_forget(hb, id);
  if (rc != 0) throw HbError(env, rc, std::string("cannot forget peer ") + id, "");
  return env.Undefined();
}

// (handle, keys: key[], sendKeyId) -> undefined
Napi::Value HbSetKeys(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_hb_engine_t* hb = RunningArg(info);
  std::vector<sf_hb_key_t> keys = KeysValue(env, info[1]);
  uint8_t send = static_cast<uint8_t>(info[2].As<Napi::Number>().Uint32Value());
  int rc = sf_hb_engine_set_keys(hb, keys.data(), static_cast<uint32_t>(keys.size()), send);
  if (rc != 0) throw HbError(env, rc, "cannot set the keys", "");
  return env.Undefined();
}

// (handle, periodMs, lagUs) -> undefined. The JS lag timer's tick; ignored once stopped, since the
// timer may fire once more between close() and clearInterval.
Napi::Value HbTick(const Napi::CallbackInfo& info) {
  Engine* engine = EngineArg(info);
  if (engine->hb != nullptr) {
    sf_hb_engine_js_tick(engine->hb, info[1].As<Napi::Number>().Uint32Value(),
                         info[2].As<Napi::Number>().Uint32Value());
  }
  return info.Env().Undefined();
}

// (handle) -> member[]
Napi::Value HbMembers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_hb_engine_t* hb = RunningArg(info);
  std::vector<sf_hb_member_t> members(64);
  size_t count = sf_hb_engine_members(hb, members.data(), members.size());
  // Members may join between the two calls; a few tries, then the first members.size() of them.
  for (int tries = 0; count > members.size() && tries < 4; tries++) {
    members.resize(count + 64);
    count = sf_hb_engine_members(hb, members.data(), members.size());
  }
  if (count > members.size()) count = members.size();
  Napi::Array array = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) array.Set(static_cast<uint32_t>(i), MemberObject(env, members[i]));
  return array;
}

// (handle) -> stats, every counter a number
Napi::Value HbStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_hb_stats_t s;
  std::memset(&s, 0, sizeof s);
  sf_hb_engine_stats(RunningArg(info), &s);
  Napi::Object o = Napi::Object::New(env);
  static const struct {
    const char* name;
    uint64_t sf_hb_stats_t::*field;
  } kFields[] = {
      {"received", &sf_hb_stats_t::received},
      {"accepted", &sf_hb_stats_t::accepted},
      {"sent", &sf_hb_stats_t::sent},
      {"sendErrors", &sf_hb_stats_t::send_errors},
      {"droppedMalformed", &sf_hb_stats_t::dropped_malformed},
      {"droppedVersion", &sf_hb_stats_t::dropped_version},
      {"droppedAuth", &sf_hb_stats_t::dropped_auth},
      {"droppedReplay", &sf_hb_stats_t::dropped_replay},
      {"droppedUnknown", &sf_hb_stats_t::dropped_unknown},
      {"droppedInjected", &sf_hb_stats_t::dropped_injected},
      {"pauses", &sf_hb_stats_t::pauses},
      {"ticks", &sf_hb_stats_t::ticks},
  };
  for (const auto& f : kFields) o.Set(f.name, Napi::Number::New(env, static_cast<double>(s.*f.field)));
  return o;
}

// (handle, rate, host?, port?) -> undefined. The loss test hook.
Napi::Value HbSetLoss(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_hb_engine_t* hb = RunningArg(info);
  double rate = info[1].As<Napi::Number>().DoubleValue();
  int rc;
  std::string address;
  if (info.Length() >= 4 && info[2].IsString()) {
    AddressArg a = AddressArgAt(info, 2);
    address = a.text;
    rc = sf_hb_engine_set_loss(hb, rate, a.sa(), a.len);
  } else {
    rc = sf_hb_engine_set_loss(hb, rate, nullptr, 0);
  }
  if (rc != 0) throw HbError(env, rc, "cannot set the simulated loss", address);
  return env.Undefined();
}

// ---- Stateless functions ------------------------------------------------------------------------

// (fields: { type: 1..5, sender, incarnation, seq, sendTime, lagUs, intervalMs, rttUs, flags,
//   target, probeId, echoTime }, key | null) -> Buffer. 64-bit fields are BigInts.
Napi::Value HbEncodePacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object f = info[0].As<Napi::Object>();
  sf_hb_packet_t p;
  std::memset(&p, 0, sizeof p);
  OptionalNumber(f, "type", &p.type);
  OptionalNumber(f, "flags", &p.flags);
  CopyId(env, f.Get("sender"), p.sender);
  CopyId(env, f.Get("target"), p.target);
  p.incarnation = U64Value(f.Get("incarnation"));
  p.seq = U64Value(f.Get("seq"));
  p.send_time = U64Value(f.Get("sendTime"));
  p.probe_id = U64Value(f.Get("probeId"));
  p.echo_time = U64Value(f.Get("echoTime"));
  OptionalNumber(f, "lagUs", &p.lag_us);
  OptionalNumber(f, "intervalMs", &p.interval_ms);
  OptionalNumber(f, "rttUs", &p.rtt_us);
  sf_hb_key_t key;
  bool keyed = info.Length() >= 2 && info[1].IsObject();
  if (keyed) key = KeyValue(env, info[1]);
  uint8_t buf[SF_HB_MAX_PACKET];
  int n = sf_hb_packet_encode(&p, keyed ? &key : nullptr, buf, sizeof buf);
  if (n < 0) throw HbError(env, n, "cannot encode the packet", "");
  return Napi::Buffer<uint8_t>::Copy(env, buf, static_cast<size_t>(n));
}

// (bytes: Uint8Array, keys: key[]) -> fields (as hbEncodePacket takes them, plus version, auth and keyId;
// a beat's target, probeId and echoTime are empty) or { error: 'SF_MALFORMED' | 'SF_PROTO_VERSION' | 'SF_AUTH' }
Napi::Value HbDecodePacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  std::vector<sf_hb_key_t> keys = KeysValue(env, info[1]);
  sf_hb_packet_t p;
  std::memset(&p, 0, sizeof p);
  int rc = sf_hb_packet_decode(bytes.Data(), bytes.ByteLength(), keys.data(), keys.size(), &p);
  Napi::Object o = Napi::Object::New(env);
  if (rc != 0) {
    o.Set("error", sf_hb_error_name(rc));
    return o;
  }
  o.Set("version", Napi::Number::New(env, p.version));
  o.Set("type", Napi::Number::New(env, p.type));
  o.Set("auth", NameOf(kAuthNames, p.auth));
  o.Set("keyId", Napi::Number::New(env, p.key_id));
  o.Set("flags", Napi::Number::New(env, p.flags));
  o.Set("sender", SfCString(p.sender, sizeof p.sender));
  o.Set("incarnation", Napi::BigInt::New(env, p.incarnation));
  o.Set("seq", Napi::BigInt::New(env, p.seq));
  o.Set("sendTime", Napi::BigInt::New(env, p.send_time));
  o.Set("lagUs", Napi::Number::New(env, p.lag_us));
  o.Set("intervalMs", Napi::Number::New(env, p.interval_ms));
  o.Set("rttUs", Napi::Number::New(env, p.rtt_us));
  o.Set("target", SfCString(p.target, sizeof p.target));
  o.Set("probeId", Napi::BigInt::New(env, p.probe_id));
  o.Set("echoTime", Napi::BigInt::New(env, p.echo_time));
  return o;
}

// () -> { suspectPhi, deadPhi }: the engine's defaults (sf_hb_options_init) that TS derives others from,
// so that TS never restates them.
Napi::Value HbDefaults(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_hb_options_t o;
  sf_hb_options_init(&o);
  Napi::Object d = Napi::Object::New(env);
  d.Set("suspectPhi", Napi::Number::New(env, o.suspect_phi));
  d.Set("deadPhi", Napi::Number::New(env, o.dead_phi));
  return d;
}

// ({ role, intervalMs?, suspectPhi?, deadPhi?, minStdDevMs?, acceptablePauseMs?, stallMs?,
//   indirectProbes? }) -> ms: sf_hb_detection_bound_ms for these options (fields left out keep the
//   defaults).
Napi::Value HbDetectionBound(const Napi::CallbackInfo& info) {
  Napi::Object o = info[0].As<Napi::Object>();
  sf_hb_options_t opts;
  sf_hb_options_init(&opts);
  opts.role = RoleValue(info.Env(), o.Get("role"));
  TuningValue(o, &opts);
  return Napi::Number::New(info.Env(), sf_hb_detection_bound_ms(&opts));
}

}  // namespace

void SfHeartbeatInit(Napi::Env env, Napi::Object exports) {
  static const SfExport entries[] = {
      {"hbStart", HbStart},
      {"hbStop", HbStop},
      {"hbUnref", HbUnref},
      {"hbAddress", HbAddress},
      {"hbAddTarget", HbAddTarget},
      {"hbRemoveTarget", HbRemoveTarget},
      {"hbForget", HbForget},
      {"hbSetKeys", HbSetKeys},
      {"hbTick", HbTick},
      {"hbMembers", HbMembers},
      {"hbStats", HbStats},
      {"hbSetLoss", HbSetLoss},
      {"hbEncodePacket", HbEncodePacket},
      {"hbDecodePacket", HbDecodePacket},
      {"hbDefaults", HbDefaults},
      {"hbDetectionBound", HbDetectionBound},
  };
  SfExportAll(env, exports, entries);
}
