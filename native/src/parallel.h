// The worker pool every kernel splits its work over: one pool per process, sized to the machine's cores.
#pragma once

#include <cstdint>
#include <functional>

namespace convis {

using index_t = int64_t;

/**
 * Runs body(begin, end) over [0, n) cut into contiguous chunks of at least `grain` items, on the pool's threads
 * and the calling one, and returns when every chunk is done. Chunks never overlap, so a body that writes only
 * inside its own range needs no synchronisation. Nested calls run serially on the calling thread.
 */
void parallel_for(index_t n, index_t grain, const std::function<void(index_t, index_t)>& body);

/** Threads that run parallel_for chunks (the pool's plus the caller). */
int parallel_threads();

}  // namespace convis
