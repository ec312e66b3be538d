// store.h: the part of the binding that exposes the checkpoint store and the append log
// (steadfast/store.h) to JS. binding.cc's Init calls SfStoreInit once per environment.
#ifndef STEADFAST_NAPI_STORE_H
#define STEADFAST_NAPI_STORE_H

#include <napi.h>

// Adds ckptOpen, ckptSave, ckptLoad, ..., logOpen, logAppend, logCommit, ... to exports, and registers
// the environment cleanup hook that closes every handle JS left open.
void SfStoreInit(Napi::Env env, Napi::Object exports);

#endif  // STEADFAST_NAPI_STORE_H
