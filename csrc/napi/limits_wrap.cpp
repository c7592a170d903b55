#include "napi/limits_wrap.h"

#include <exception>
#include <string>

#include "core/thread_pool.h"
#include "cpu/limits.h"
#include "napi/args.h"
#include "napi/js_error.h"

namespace gptneo::napi {
namespace {

class LimitsWorker final : public Napi::AsyncWorker {
 public:
  LimitsWorker(Napi::Env env, int threads, size_t read_bytes)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), threads_(threads),
        read_bytes_(read_bytes), level_(cpu::select_simd()) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      ThreadPool pool(threads_);
      limits_ = cpu::measure_machine_limits(pool, level_, read_bytes_);
    } catch (const std::exception& e) {
      failed_ = std::string("measuring the machine failed: ") + e.what();
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!failed_.empty()) {
      deferred_.Reject(make_error(env, Internal(failed_)).Value());
      return;
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("fmaGflops", limits_.fma_gflops);
    o.Set("readGbs", limits_.read_gbs);
    if (limits_.amx_bf16_gflops > 0) o.Set("amxBf16Gflops", limits_.amx_bf16_gflops);
    o.Set("threads", threads_);
    o.Set("simd", cpu::simd_name(level_));
    deferred_.Resolve(o);
  }

 private:
  Napi::Promise::Deferred deferred_;
  int threads_;
  size_t read_bytes_;
  cpu::SimdLevel level_;
  cpu::MachineLimits limits_;
  std::string failed_;
};

}  // namespace

Napi::Value measure_machine_limits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return throw_invalid(env, "measureMachineLimits(options) expects an object");
  Napi::Object o = info[0].As<Napi::Object>();
  int threads = 0;
  double read_bytes = 0;
  std::string err;
  if (!read_int(o, "threads", &threads, &err) || !read_number(o, "readBytes", &read_bytes, &err)) return throw_invalid(env, err);
  if (threads < 1 || threads > 1024) return throw_invalid(env, "threads must be in [1, 1024]");
  if (!(read_bytes >= (1 << 20) && read_bytes <= 64.0 * (1ull << 30))) return throw_invalid(env, "readBytes must be in [1 MiB, 64 GiB]");
  auto* worker = new LimitsWorker(env, threads, static_cast<size_t>(read_bytes));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

}  // namespace gptneo::napi
