// The addon's entry: storages, the executor, sync / download promises and the argument checks (runtime.h);
// the kernel bindings are in ops.cc. The JS side is src/backend/cpu/.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "runtime.h"

namespace convis {

// ---- executor ----

Executor::Executor() : thread_([this] { loop(); }) {}

Executor::~Executor() { stop(); }

void Executor::push(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

void Executor::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::string Executor::takeError() {
  std::lock_guard<std::mutex> lock(errorMutex_);
  std::string e;
  e.swap(error_);
  return e;
}

void Executor::loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, and everything queued has run
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(errorMutex_);
      if (error_.empty()) error_ = e.what();
    }
  }
}

// ---- instance ----

void complete(Napi::Env env, Napi::Function, Instance* self, Completion* done) {
  std::unique_ptr<Completion> owned(done);
  std::unique_ptr<std::vector<float>> data(done->data);
  if (!env || !self) return;  // the environment is going away
  auto it = self->promises.find(done->promise);
  if (it == self->promises.end()) return;
  Napi::Promise::Deferred deferred = it->second;
  self->promises.erase(it);
  if (self->promises.empty()) self->tsfn.Unref(env);  // nothing pending: let the process exit
  std::string error = done->error.empty() && self->executor ? self->executor->takeError() : done->error;
  if (!error.empty()) {
    deferred.Reject(Napi::Error::New(env, "cpu backend: " + error).Value());
  } else if (data) {
    Napi::Float32Array out = Napi::Float32Array::New(env, data->size());
    if (!data->empty()) std::memcpy(out.Data(), data->data(), data->size() * sizeof(float));
    deferred.Resolve(out);
  } else {
    deferred.Resolve(env.Undefined());
  }
}

Napi::Promise Instance::track(Napi::Env env, uint32_t* id) {
  *id = nextPromise++;
  auto deferred = Napi::Promise::Deferred::New(env);
  if (promises.empty()) tsfn.Ref(env);
  promises.emplace(*id, deferred);
  return deferred.Promise();
}

void Instance::shutdown() {
  if (!executor) return;
  executor->stop();
  delete executor;
  executor = nullptr;
  for (auto& [id, block] : blocks) std::free(block.data);
  blocks.clear();
  liveBytes = 0;
  tsfn.Release();
}

Instance& instance(const Napi::CallbackInfo& info, const char* fn) {
  Instance* self = info.Env().GetInstanceData<Instance>();
  if (!self || !self->executor) {
    throw Napi::Error::New(info.Env(), std::string(fn) + ": the cpu backend is closed (call open() first)");
  }
  return *self;
}

// ---- argument checks ----

namespace {

[[noreturn]] void fail(Napi::Env env, const char* fn, const std::string& what) {
  throw Napi::Error::New(env, std::string(fn) + ": " + what);
}

std::string show(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  Napi::String s = v.ToString();
  std::string text = s.Utf8Value();
  return text.size() > 60 ? text.substr(0, 60) + "..." : text;
}

constexpr index_t kMaxElements = index_t(1) << 50;

index_t toInt(Napi::Env env, const Napi::Value& v, const char* fn, const std::string& name, index_t min) {
  if (!v.IsNumber()) fail(env, fn, name + " must be a number, got " + show(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < double(min) || d > double(kMaxElements)) {
    fail(env, fn, name + " must be an integer >= " + std::to_string(min) + ", got " + show(v));
  }
  return static_cast<index_t>(d);
}

}  // namespace

index_t intArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, index_t min) {
  return toInt(info.Env(), info[i], fn, name, min);
}

double numberArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), fn, std::string(name) + " must be a number, got " + show(info[i]));
  return info[i].As<Napi::Number>().DoubleValue();
}

bool boolArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name) {
  if (!info[i].IsBoolean()) fail(info.Env(), fn, std::string(name) + " must be a boolean, got " + show(info[i]));
  return info[i].As<Napi::Boolean>().Value();
}

std::vector<index_t> intsArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, int count,
                             index_t min) {
  if (!info[i].IsArray()) fail(info.Env(), fn, std::string(name) + " must be an array, got " + show(info[i]));
  Napi::Array a = info[i].As<Napi::Array>();
  if (count >= 0 && a.Length() != static_cast<uint32_t>(count)) {
    fail(info.Env(), fn, std::string(name) + " must have " + std::to_string(count) + " entries, got " +
                             std::to_string(a.Length()));
  }
  if (a.Length() > 64) fail(info.Env(), fn, std::string(name) + " has " + std::to_string(a.Length()) + " entries");
  std::vector<index_t> out;
  for (uint32_t k = 0; k < a.Length(); k++) {
    out.push_back(toInt(info.Env(), a.Get(k), fn, std::string(name) + "[" + std::to_string(k) + "]", min));
  }
  return out;
}

index_t checkedMul(Napi::Env env, index_t a, index_t b, const char* fn) {
  if (a != 0 && b > kMaxElements / a) fail(env, fn, "sizes multiply past 2^50 elements");
  return a * b;
}

float* operandArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, index_t needed) {
  return operandFrom(info, info[i], fn, name, needed);
}

float* operandFrom(const Napi::CallbackInfo& info, const Napi::Value& v, const char* fn, const std::string& name,
                   index_t needed) {
  Napi::Env env = info.Env();
  Instance& self = instance(info, fn);
  if (!v.IsArray() || v.As<Napi::Array>().Length() != 2) {
    fail(env, fn, name + " must be an operand [storage, offset], got " + show(v));
  }
  Napi::Array a = v.As<Napi::Array>();
  const index_t id = toInt(env, a.Get(0u), fn, name + " storage", 1);
  const index_t offset = toInt(env, a.Get(1u), fn, name + " offset", 0);
  auto it = self.blocks.find(static_cast<uint32_t>(id));
  if (id > std::numeric_limits<uint32_t>::max() || it == self.blocks.end()) {
    fail(env, fn, name + " names storage " + std::to_string(id) + ", which does not exist or was released");
  }
  if (needed < 0 || offset > it->second.elements || needed > it->second.elements - offset) {
    fail(env, fn, name + " needs " + std::to_string(needed) + " elements from offset " +
                      std::to_string(offset) + ", but its storage holds " + std::to_string(it->second.elements));
  }
  return it->second.data + offset;
}

float* optionalOperandArg(const Napi::CallbackInfo& info, size_t i, const char* fn, const char* name, index_t needed) {
  if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return operandArg(info, i, fn, name, needed);
}

Napi::Function guarded(Napi::Env env, const char* name, Napi::Value (*f)(const Napi::CallbackInfo&)) {
  return Napi::Function::New(env, [name, f](const Napi::CallbackInfo& info) -> Napi::Value {
    try {
      return f(info);
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
    }
  }, name);
}

// ---- storage, sync, download, lifecycle ----

namespace {

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance* self = env.GetInstanceData<Instance>();
  if (self->executor) return env.Undefined();
  self->tsfn = CompletionTsfn::New(env, "convis-cpu", 0, 1, self);
  self->tsfn.Unref(env);
  self->executor = new Executor();
  return env.Undefined();
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Instance* self = info.Env().GetInstanceData<Instance>();
  self->shutdown();
  return info.Env().Undefined();
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Instance& self = instance(info, "alloc");
  const index_t elements = intArg(info, 0, "alloc", "elements", 0);
  const size_t bytes = (static_cast<size_t>(std::max<index_t>(elements, 1)) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) fail(info.Env(), "alloc", "out of memory for " + std::to_string(elements) + " elements");
  const uint32_t id = self.nextBlock++;
  self.blocks.emplace(id, Block{static_cast<float*>(p), elements});
  self.liveBytes += elements * 4;
  return Napi::Number::New(info.Env(), id);
}

Napi::Value Release(const Napi::CallbackInfo& info) {
  Instance& self = instance(info, "release");
  const index_t id = intArg(info, 0, "release", "storage", 1);
  auto it = self.blocks.find(static_cast<uint32_t>(id));
  if (id > std::numeric_limits<uint32_t>::max() || it == self.blocks.end()) {
    fail(info.Env(), "release", "storage " + std::to_string(id) + " does not exist or was already released");
  }
  float* data = it->second.data;
  self.liveBytes -= it->second.elements * 4;
  self.blocks.erase(it);
  self.executor->push([data] { std::free(data); });  // after every queued job that still reads it
  return info.Env().Undefined();
}

Napi::Value Upload(const Napi::CallbackInfo& info) {
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(info.Env(), "upload", "data must be a Float32Array, got " + show(info[1]));
  }
  Napi::Float32Array src = info[1].As<Napi::Float32Array>();
  if (src.ArrayBuffer().IsDetached()) fail(info.Env(), "upload", "data's ArrayBuffer is detached");
  const index_t n = static_cast<index_t>(src.ElementLength());
  float* dst = operandArg(info, 0, "upload", "target", n);
  Instance& self = instance(info, "upload");
  // copied now: the caller may reuse its array before the queued copy runs
  auto copy = std::make_shared<std::vector<float>>(src.Data(), src.Data() + n);
  self.executor->push([copy, dst] { std::memcpy(dst, copy->data(), copy->size() * sizeof(float)); });
  return info.Env().Undefined();
}

Napi::Value Download(const Napi::CallbackInfo& info) {
  const index_t n = intArg(info, 1, "download", "count", 0);
  const float* src = operandArg(info, 0, "download", "source", n);
  Instance& self = instance(info, "download");
  uint32_t id;
  Napi::Promise promise = self.track(info.Env(), &id);
  CompletionTsfn tsfn = self.tsfn;
  self.executor->push([src, n, id, tsfn]() mutable {
    auto* data = new std::vector<float>(src, src + n);
    tsfn.BlockingCall(new Completion{id, data, ""});
  });
  return promise;
}

Napi::Value Sync(const Napi::CallbackInfo& info) {
  Instance& self = instance(info, "sync");
  uint32_t id;
  Napi::Promise promise = self.track(info.Env(), &id);
  CompletionTsfn tsfn = self.tsfn;
  self.executor->push([id, tsfn]() mutable { tsfn.BlockingCall(new Completion{id, nullptr, ""}); });
  return promise;
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  Instance& self = instance(info, "memory");
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveStorages", Napi::Number::New(info.Env(), static_cast<double>(self.blocks.size())));
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(self.liveBytes)));
  return o;
}

Napi::Value Threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), parallel_threads());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<Instance>(new Instance());  // deleted with the environment
  env.AddCleanupHook([env] {
    if (Instance* self = env.GetInstanceData<Instance>()) {
      if (self->executor) {
        self->executor->stop();
        delete self->executor;
        self->executor = nullptr;
      }
    }
  });
  exports.Set("open", guarded(env, "open", Open));
  exports.Set("shutdown", guarded(env, "shutdown", Shutdown));
  exports.Set("alloc", guarded(env, "alloc", Alloc));
  exports.Set("release", guarded(env, "release", Release));
  exports.Set("upload", guarded(env, "upload", Upload));
  exports.Set("download", guarded(env, "download", Download));
  exports.Set("sync", guarded(env, "sync", Sync));
  exports.Set("memory", guarded(env, "memory", Memory));
  exports.Set("threads", guarded(env, "threads", Threads));
  registerOps(env, exports);
  registerMaxflow(env, exports);
  registerSegment(env, exports);
  return exports;
}

}  // namespace
}  // namespace convis

static Napi::Object InitConvis(Napi::Env env, Napi::Object exports) { return convis::Init(env, exports); }

NODE_API_MODULE(convis_native, InitConvis)
