// heartbeat.h: the part of the binding that exposes the heartbeat engine (steadfast/heartbeat.h) to JS.
// binding.cc's Init calls SfHeartbeatInit once per environment.
#ifndef STEADFAST_NAPI_HEARTBEAT_H
#define STEADFAST_NAPI_HEARTBEAT_H

#include <napi.h>

// Adds hbStart, hbStop, hbAddress, hbAddTarget, ..., hbEncodePacket, hbDecodePacket to exports. Each
// engine started registers its own environment cleanup hook, which stops it if JS never did.
void SfHeartbeatInit(Napi::Env env, Napi::Object exports);

#endif  // STEADFAST_NAPI_HEARTBEAT_H
