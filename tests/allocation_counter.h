// Counts heap allocations per thread, for the tests that check a path allocates nothing once
// warm (Executor::Act, Agent::Act, the episode-log writer and reader). It replaces the global
// operator new/delete, so include it from exactly one source file of a test binary.
// (noinline: inlined into the standard library, these pairings trip GCC's
// -Wmismatched-new-delete.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace apprentice::testing_support {
inline thread_local int64_t t_allocations = 0;
}  // namespace apprentice::testing_support

[[gnu::noinline]] void* operator new(std::size_t size) {
  ++apprentice::testing_support::t_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace apprentice {
// Heap allocations made by the calling thread so far.
inline int64_t AllocationsOnThisThread() { return testing_support::t_allocations; }
}  // namespace apprentice
