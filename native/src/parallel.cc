// A fixed pool of worker threads that parallel_for hands chunks to. The threads start on first use and sleep on
// a condition variable between calls, so an idle backend costs nothing. CONVIS_THREADS overrides the size.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace convis {
namespace {

thread_local bool insideChunk = false;

class Pool {
 public:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("CONVIS_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    threads_ = std::max(1, std::min(n, 256));
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }

  int threads() const { return threads_; }

  void run(index_t n, index_t grain, const std::function<void(index_t, index_t)>& body) {
    std::lock_guard<std::mutex> callLock(callMutex_);  // one parallel region at a time
    startWorkers();
    const index_t maxChunks = static_cast<index_t>(threads_) * 4;
    const index_t chunks = std::max<index_t>(1, std::min(maxChunks, (n + grain - 1) / grain));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      body_ = &body;
      n_ = n;
      chunk_ = (n + chunks - 1) / chunks;
      next_.store(0);
      busy_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return busy_ == 0; });
    body_ = nullptr;
  }

 private:
  void startWorkers() {
    if (!workers_.empty() || threads_ == 1) return;
    for (int i = 1; i < threads_; i++) workers_.emplace_back([this] { loop(); });
  }

  void work() {
    insideChunk = true;
    for (;;) {
      index_t begin = next_.fetch_add(chunk_);
      if (begin >= n_) break;
      (*body_)(begin, std::min(n_, begin + chunk_));
    }
    insideChunk = false;
  }

  void loop() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  int threads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex callMutex_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(index_t, index_t)>* body_ = nullptr;
  index_t n_ = 0, chunk_ = 1;
  std::atomic<index_t> next_{0};
  int busy_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

void parallel_for(index_t n, index_t grain, const std::function<void(index_t, index_t)>& body) {
  if (n <= 0) return;
  grain = std::max<index_t>(1, grain);
  if (insideChunk || n <= grain || pool().threads() == 1) {
    body(0, n);
    return;
  }
  pool().run(n, grain, body);
}

int parallel_threads() { return pool().threads(); }

}  // namespace convis
