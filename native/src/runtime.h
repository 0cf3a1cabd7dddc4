// The addon's state for one Node environment: the storages (native float32 blocks named by integer ids), the
// executor thread that runs kernels in submission order off the JS thread, and the promises that sync and
// download hand back. Argument checking helpers for the bindings are here too: every binding validates what
// JS gave it before anything is queued, and throws a JS Error naming the function and the argument.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kernels.h"

namespace convis {

/** Runs queued jobs one after another on its own thread; the jobs themselves fan out over parallel_for. */
class Executor {
 public:
  using Job = std::function<void()>;
  Executor();
  ~Executor();
  void push(Job job);
  /** Finishes the queued jobs and joins the thread. */
  void stop();
  /** The first failure of a job since the last call, or "" (a job that throws fails; later jobs still run). */
  std::string takeError();

 private:
  void loop();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> jobs_;
  bool stopping_ = false;
  std::mutex errorMutex_;
  std::string error_;
  std::thread thread_;
};

struct Block {
  float* data;
  index_t elements;
};

/** What a finished sync or download sends back to the JS thread. */
struct Completion {
  uint32_t promise;
  std::vector<float>* data;  // download result, or null for sync
  std::string error;
};

struct Instance;
void complete(Napi::Env env, Napi::Function, Instance* instance, Completion* done);
using CompletionTsfn = Napi::TypedThreadSafeFunction<Instance, Completion, complete>;

struct Instance {
  Executor* executor = nullptr;  // null until open() and after shutdown()
  std::unordered_map<uint32_t, Block> blocks;
  uint32_t nextBlock = 1;
  index_t liveBytes = 0;
  std::unordered_map<uint32_t, Napi::Promise::Deferred> promises;
  uint32_t nextPromise = 1;
  CompletionTsfn tsfn;

  /** A promise resolved from the executor once every job queued before it has run. */
  Napi::Promise track(Napi::Env env, uint32_t* id);
  void shutdown();
};

Instance& instance(const Napi::CallbackInfo& info, const char* fn);

// ---- argument checks; each throws a JS Error "fn: name ..." ----

index_t intArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, index_t min = 0);
double numberArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name);
bool boolArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name);
/** An array of `count` integers >= min (count < 0: any length). */
std::vector<index_t> intsArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, int count,
                             index_t min = 0);
/** a * b, throwing when the product passes 2^50 elements */
index_t checkedMul(Napi::Env env, index_t a, index_t b, const char* fn);

/** An operand [storageId, offset] with room for `needed` elements; returns the first element. */
float* operandArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, index_t needed);
/** The same for an operand inside another argument (an array of inputs). */
float* operandFrom(const Napi::CallbackInfo& info, const Napi::Value& v, const char* fn, const std::string& name,
                   index_t needed);
/** The same, or null when the argument is null / undefined. */
float* optionalOperandArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, index_t needed);

/**
 * A JS function for a binding that turns any C++ exception it lets out (bad_alloc, ...) into a JS Error named
 * after the binding: node-addon-api converts only Napi::Error, and anything else would terminate the process.
 */
Napi::Function guarded(Napi::Env env, const char* name, Napi::Value (*f)(const Napi::CallbackInfo&));

void registerOps(Napi::Env env, Napi::Object exports);
// localisation (host arrays in, results out; synchronous, one core): maxflow.cc and segment.cc
void registerMaxflow(Napi::Env env, Napi::Object exports);
void registerSegment(Napi::Env env, Napi::Object exports);

}  // namespace convis
