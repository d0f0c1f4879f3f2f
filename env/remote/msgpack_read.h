// Reading decoded MessagePack values (msgpack-c++): a map's field by key, and numbers of any
// MessagePack number type. Shared by the protocols that decode maps: the remote env
// (remote_env.cc), the decision service (service/protocol.cc) and the NATS messages
// (nats/wire.cc). Include it only from .cc files that link msgpack-c++.
#pragma once

#include <cstdint>
#include <string_view>

#include <msgpack.hpp>

namespace apprentice::mp {

// The value of `map`'s first string key equal to `key`, or null. `map` must be a MAP.
inline const msgpack::object* Find(const msgpack::object& map, std::string_view key) {
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object_kv& kv = map.via.map.ptr[i];
    if (kv.key.type == msgpack::type::STR &&
        std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
      return &kv.val;
    }
  }
  return nullptr;
}

// Any integer or float type.
inline bool IsNumber(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER || o.type == msgpack::type::NEGATIVE_INTEGER ||
         o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64;
}

// The value of a number (IsNumber) as a double.
inline double NumberOf(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::POSITIVE_INTEGER: return static_cast<double>(o.via.u64);
    case msgpack::type::NEGATIVE_INTEGER: return static_cast<double>(o.via.i64);
    default: return o.via.f64;
  }
}

}  // namespace apprentice::mp
