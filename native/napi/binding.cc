// binding.cc: the Node-API glue. One small function per C function; argument checking, defaults and
// error messages live in src/ (TypeScript), the work lives in native/<area>/ (C). Every function here
// runs on the JS thread that called it.
//
// The CRC functions are on a hot path (64-byte heartbeat packets), so they read their arguments with
// the plain Node-API calls and no intermediate objects: src/crc.ts has already checked that `data` is
// an ArrayBufferView and `value` a uint32.
#include <napi.h>

#include <cstdint>

#include "heartbeat.h"
#include "store.h"

extern "C" {
#include "steadfast/crc.h"
#include "steadfast/memory.h"
}

namespace {

size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    default:  // float64, bigint64, biguint64
      return 8;
  }
}

// The bytes a TypedArray or DataView covers (its own range of its buffer). On failure a JS TypeError
// is pending and the result is false. napi_is_buffer answers true for every ArrayBufferView in the
// Node.js versions this supports, and napi_get_buffer_info then gives pointer and byte length in one
// call; the type is checked first because Node.js 20 releases before 20.12 abort (not throw) when
// napi_get_buffer_info is handed anything else. The typed-array and DataView calls are the
// documented route, should napi_is_buffer ever narrow to Buffer and Uint8Array.
bool ViewBytes(napi_env env, napi_value view, const uint8_t** data, size_t* length) {
  void* bytes = nullptr;
  bool is = false;
  if (napi_is_buffer(env, view, &is) == napi_ok && is && napi_get_buffer_info(env, view, &bytes, length) == napi_ok) {
    *data = static_cast<const uint8_t*>(bytes);
    return true;
  }
  napi_typedarray_type type;
  size_t elements = 0;
  if (napi_is_typedarray(env, view, &is) == napi_ok && is &&
      napi_get_typedarray_info(env, view, &type, &elements, &bytes, nullptr, nullptr) == napi_ok) {
    *length = elements * ElementSize(type);
  } else if (napi_is_dataview(env, view, &is) != napi_ok || !is ||
             napi_get_dataview_info(env, view, length, &bytes, nullptr, nullptr) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be an ArrayBufferView");
    return false;
  }
  *data = static_cast<const uint8_t*>(bytes);
  return true;
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t i) {
  uint32_t value = 0;
  NAPI_THROW_IF_FAILED(info.Env(), napi_get_value_uint32(info.Env(), info[i], &value), 0);
  return value;
}

// (data: ArrayBufferView, value: uint32) -> uint32. The hot path, so a plain Node-API callback:
// node-addon-api's CallbackInfo would also fetch `this` and the callback data, which this never uses.
template <uint32_t (*Fn)(uint32_t, const void*, size_t)>
napi_value Checksum(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  const uint8_t* data;
  size_t length;
  uint32_t value = 0;
  napi_value result = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected (data, value)");
    return nullptr;
  }
  if (!ViewBytes(env, argv[0], &data, &length)) return nullptr;
  if (napi_get_value_uint32(env, argv[1], &value) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "value must be a number");
    return nullptr;
  }
  napi_create_uint32(env, Fn(value, data, length), &result);
  return result;
}

// (crcA: uint32, crcB: uint32, lengthB: safe integer >= 0) -> uint32
template <uint32_t (*Fn)(uint32_t, uint32_t, uint64_t)>
Napi::Value Combine(const Napi::CallbackInfo& info) {
  int64_t length = info[2].As<Napi::Number>().Int64Value();
  return Napi::Number::New(info.Env(), Fn(Uint32Arg(info, 0), Uint32Arg(info, 1), static_cast<uint64_t>(length)));
}

// () -> [{ name, crc32c, crc32, available }], fastest first
Napi::Value CrcImplementations(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env);
  for (int i = 0; i < sf_crc_impl_count(); i++) {
    const sf_crc_impl_t* impl = sf_crc_impl_get(i);
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", impl->name);
    entry.Set("crc32c", impl->crc32c != nullptr);
    entry.Set("crc32", impl->crc32 != nullptr);
    entry.Set("available", impl->available != 0);
    list.Set(static_cast<uint32_t>(i), entry);
  }
  return list;
}

// (index, data, value) -> uint32: one implementation's function, for tests and benchmarks.
template <bool Castagnoli>
Napi::Value ChecksumWith(const Napi::CallbackInfo& info) {
  const sf_crc_impl_t* impl = sf_crc_impl_get(static_cast<int>(Uint32Arg(info, 0)));
  sf_crc_fn fn = impl == nullptr ? nullptr : Castagnoli ? impl->crc32c : impl->crc32;
  if (fn == nullptr) throw Napi::RangeError::New(info.Env(), "no such CRC implementation function");
  const uint8_t* data;
  size_t length;
  if (!ViewBytes(info.Env(), info[1], &data, &length)) return Napi::Value();
  return Napi::Number::New(info.Env(), fn(Uint32Arg(info, 2), data, length));
}

// () -> { crc32c, crc32, forced, features, detector, unknown }
Napi::Value CrcSelection(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sf_crc_selection_t s;
  sf_crc_selection(&s);
  Napi::Object out = Napi::Object::New(env);
  out.Set("crc32c", s.crc32c);
  out.Set("crc32", s.crc32);
  out.Set("forced", s.forced ? Napi::Value(Napi::String::New(env, s.forced)) : env.Null());
  out.Set("features", s.features);
  out.Set("detector", s.detector);
  out.Set("unknown", s.unknown ? Napi::Value(Napi::String::New(env, s.unknown)) : env.Null());
  return out;
}

// (data: ArrayBufferView) -> number: sf_memory_read, the memory-read reference of bench/crc.mjs.
Napi::Value MemoryRead(const Napi::CallbackInfo& info) {
  const uint8_t* data;
  size_t length;
  if (!ViewBytes(info.Env(), info[0], &data, &length)) return Napi::Value();
  return Napi::Number::New(info.Env(), static_cast<double>(sf_memory_read(data, length) & 0xFFFFFFFFu));
}

Napi::Value RawFunction(Napi::Env env, const char* name, napi_callback callback) {
  napi_value fn;
  NAPI_THROW_IF_FAILED(env, napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &fn), Napi::Value());
  return Napi::Value(env, fn);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("crc32c", RawFunction(env, "crc32c", Checksum<sf_crc32c>));
  exports.Set("crc32", RawFunction(env, "crc32", Checksum<sf_crc32>));
  exports.Set("crc32cCombine", Napi::Function::New<Combine<sf_crc32c_combine>>(env, "crc32cCombine"));
  exports.Set("crc32Combine", Napi::Function::New<Combine<sf_crc32_combine>>(env, "crc32Combine"));
  exports.Set("crc32cWith", Napi::Function::New<ChecksumWith<true>>(env, "crc32cWith"));
  exports.Set("crc32With", Napi::Function::New<ChecksumWith<false>>(env, "crc32With"));
  exports.Set("crcImplementations", Napi::Function::New<CrcImplementations>(env, "crcImplementations"));
  exports.Set("crcSelection", Napi::Function::New<CrcSelection>(env, "crcSelection"));
  exports.Set("memoryRead", Napi::Function::New<MemoryRead>(env, "memoryRead"));
  exports.Set("napiVersion", Napi::Number::New(env, NAPI_VERSION));
  SfStoreInit(env, exports);
  SfHeartbeatInit(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(steadfast, Init)
