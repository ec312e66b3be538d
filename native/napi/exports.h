// exports.h: how each part of the binding adds its functions to the module's exports: a table of
// JS name and C++ function, so that the names a JS reader greps for stand in one list per part.
#ifndef STEADFAST_NAPI_EXPORTS_H
#define STEADFAST_NAPI_EXPORTS_H

#include <napi.h>

#include <cstddef>

struct SfExport {
  const char* name;
  Napi::Value (*fn)(const Napi::CallbackInfo&);
};

// Sets exports[name] to a function for every entry; `data` is what each function's info.Data() returns.
template <std::size_t N>
void SfExportAll(Napi::Env env, Napi::Object exports, const SfExport (&entries)[N], void* data = nullptr) {
  for (const SfExport& e : entries) exports.Set(e.name, Napi::Function::New(env, e.fn, e.name, data));
}

#endif  // STEADFAST_NAPI_EXPORTS_H
