// exports.h: how each part of the binding adds its functions to the module's exports: a table of
// JS name and C++ function, so that the names a JS reader greps for stand in one list per part. Also
// the few conversions every part shares.
#ifndef STEADFAST_NAPI_EXPORTS_H
#define STEADFAST_NAPI_EXPORTS_H

#include <napi.h>

#include <cstddef>
#include <cstring>
#include <string>

struct SfExport {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

// Sets exports[name] to a function for every entry; `data` is what each function's info.Data() returns.
template <std::size_t N>
void SfExportAll(Napi::Env env, Napi::Object exports, const SfExport (&entries)[N], void* data = nullptr) {
  for (const SfExport& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name, data));
}

// The text of a fixed-size char field of a C struct: up to its first NUL, or all `capacity` bytes when
// the field is full and so has none.
inline std::string SfCString(const char* chars, std::size_t capacity) {
  return std::string(chars, strnlen(chars, capacity));
}

#endif  // STEADFAST_NAPI_EXPORTS_H
