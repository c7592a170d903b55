#include "napi/model_wrap.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "cpu/simd.h"
#include "model/cpu_backend.h"
#include "napi/args.h"
#include "napi/js_error.h"
#include "napi/model_workers.h"
#include "napi/step_sampling.h"
#ifdef GPTNEO_WITH_CUDA
#include "model/cuda_backend.h"
#endif

namespace gptneo::napi {
namespace {

bool read_config(const Napi::Object& c, ModelConfig* cfg, std::string* err) {
  double eps = 0;
  if (!read_int(c, "vocabSize", &cfg->vocab_size, err) || !read_int(c, "maxPositions", &cfg->max_positions, err) ||
      !read_int(c, "hidden", &cfg->hidden, err) || !read_int(c, "layers", &cfg->layers, err) ||
      !read_int(c, "heads", &cfg->heads, err) || !read_int(c, "intermediate", &cfg->intermediate, err) ||
      !read_int(c, "window", &cfg->window, err) || !read_number(c, "layerNormEps", &eps, err))
    return false;
  cfg->layer_norm_eps = static_cast<float>(eps);
  Napi::Value local = c.Get("localLayers");
  if (!local.IsArray()) {
    *err = "expected an array of booleans for localLayers";
    return false;
  }
  Napi::Array arr = local.As<Napi::Array>();
  cfg->layer_is_local.clear();
  for (uint32_t i = 0; i < arr.Length(); ++i) cfg->layer_is_local.push_back(arr.Get(i).ToBoolean().Value());
  Status s = cfg->validate();
  if (!s.ok()) {
    *err = s.message();
    return false;
  }
  return true;
}

cpu::SimdLevel parse_simd(const std::string& s, cpu::SimdLevel best) {
  cpu::SimdLevel want = best;
  if (s == "portable") want = cpu::SimdLevel::kPortable;
  else if (s == "avx2") want = cpu::SimdLevel::kAvx2;
  else if (s == "avx512") want = cpu::SimdLevel::kAvx512;
  else if (s == "avx512bf16") want = cpu::SimdLevel::kAvx512Bf16;
  else if (s == "amx") want = cpu::SimdLevel::kAmx;
  return static_cast<int>(want) < static_cast<int>(best) ? want : best;
}

}  // namespace

Napi::Function NativeModel::define(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {InstanceMethod<&NativeModel::load>("load"), InstanceMethod<&NativeModel::step>("step"),
                      InstanceMethod<&NativeModel::info>("info"), InstanceMethod<&NativeModel::dispose>("dispose")});
}

// new NativeModel(config, { device: 'cpu' | 'cuda', deviceIndex, threads, simd })
NativeModel::NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
  Napi::Env env = info.Env();
  holder_ = std::make_shared<ModelHolder>();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject()) {
    throw_invalid(env, "NativeModel(config, options) expects two objects");
    return;
  }
  ModelConfig cfg;
  std::string err;
  if (!read_config(info[0].As<Napi::Object>(), &cfg, &err)) {
    throw_invalid(env, "invalid model config: " + err);
    return;
  }
  Napi::Object opts = info[1].As<Napi::Object>();
  std::string device = "cpu";
  if (opts.Has("device") && !read_string(opts, "device", &device, &err)) {
    throw_invalid(env, err);
    return;
  }
  std::unique_ptr<Backend> backend;
  if (device == "cpu") {
    int threads = hardware_threads();
    if (opts.Has("threads") && !opts.Get("threads").IsUndefined() && !read_int(opts, "threads", &threads, &err)) {
      throw_invalid(env, err);
      return;
    }
    if (threads < 1 || threads > 1024) {
      throw_invalid(env, "threads must be in [1, 1024]");
      return;
    }
    std::string simd;
    if (opts.Has("simd") && opts.Get("simd").IsString()) simd = opts.Get("simd").As<Napi::String>().Utf8Value();
    backend = create_cpu_backend(threads, parse_simd(simd, cpu::select_simd()));
  } else if (device == "cuda") {
#ifdef GPTNEO_WITH_CUDA
    int index = 0;
    if (opts.Has("deviceIndex") && !read_int(opts, "deviceIndex", &index, &err)) {
      throw_invalid(env, err);
      return;
    }
    Status s = create_cuda_backend(index, &backend);
    if (!s.ok()) {
      throw_status(env, s);
      return;
    }
#else
    throw_status(env, Unsupported("this build of gpt-neo-node has no CUDA support"));
    return;
#endif
  } else {
    throw_invalid(env, "unknown device '" + device + "'");
    return;
  }
  backend_name_ = backend->name();
  vocab_size_ = cfg.vocab_size;
  holder_->model = std::make_unique<GptNeoModel>(std::move(cfg), std::move(backend));
  holder_->thread = std::make_unique<InferenceThread>(env);
}

NativeModel::~NativeModel() {
  if (!holder_) return;
  holder_->disposed.store(true);
  // A worker in flight keeps the holder alive and frees the model when it finishes; with
  // none in flight the lock is uncontended.
  if (!holder_->busy.load()) {
    std::lock_guard<std::mutex> lock(holder_->mu);
    holder_->release();
  }
}

bool NativeModel::acquire(Napi::Env env) {
  if (holder_->disposed || !holder_->model) {
    throw_status(env, Status(ErrorCode::kDisposed, "the model was disposed"));
    return false;
  }
  bool expected = false;
  if (!holder_->busy.compare_exchange_strong(expected, true)) {
    throw_status(env, Status(ErrorCode::kBusy, "another load() or step() is running on this model"));
    return false;
  }
  return true;
}

// load(path, tensors: [{ name, dtype, shape, offset, nbytes }],
//      { weightDtype, kvBlocks, blockSize, localKvBlocks?, graphs?, kvDtype? })
Napi::Value NativeModel::load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsArray() || !info[2].IsObject())
    return throw_invalid(env, "load(path, tensors, options) expects a string, an array and an object");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Array arr = info[1].As<Napi::Array>();
  std::vector<TensorEntry> tensors;
  std::string err;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) return throw_invalid(env, "tensor entries must be objects");
    Napi::Object o = v.As<Napi::Object>();
    TensorEntry t;
    std::string dtype;
    double offset = 0, nbytes = 0;
    if (!read_string(o, "name", &t.name, &err) || !read_string(o, "dtype", &dtype, &err) ||
        !read_number(o, "offset", &offset, &err) || !read_number(o, "nbytes", &nbytes, &err))
      return throw_invalid(env, err);
    if (!parse_dtype(dtype, &t.dtype)) return throw_invalid(env, "unsupported tensor dtype " + dtype);
    if (offset < 0 || nbytes < 0 || offset > 9.0e15 || nbytes > 9.0e15)
      return throw_invalid(env, "tensor " + t.name + " has an invalid offset or length");
    t.offset = static_cast<uint64_t>(offset);
    t.nbytes = static_cast<uint64_t>(nbytes);
    Napi::Value shape = o.Get("shape");
    if (!shape.IsArray()) return throw_invalid(env, "tensor " + t.name + " has no shape array");
    Napi::Array s = shape.As<Napi::Array>();
    for (uint32_t d = 0; d < s.Length(); ++d) {
      Napi::Value dim = s.Get(d);
      if (!dim.IsNumber()) return throw_invalid(env, "tensor " + t.name + " has a non-numeric dimension");
      t.shape.push_back(dim.As<Napi::Number>().Int64Value());
    }
    tensors.push_back(std::move(t));
  }
  Napi::Object opts = info[2].As<Napi::Object>();
  LoadOptions lo;
  std::string wd;
  if (!read_string(opts, "weightDtype", &wd, &err) || !read_int(opts, "kvBlocks", &lo.kv_blocks, &err) ||
      !read_int(opts, "blockSize", &lo.block_size, &err))
    return throw_invalid(env, err);
  if (!parse_weight_dtype(wd, &lo.weight_dtype)) return throw_invalid(env, "unsupported weight dtype " + wd);
  if (opts.Has("localKvBlocks") && !opts.Get("localKvBlocks").IsUndefined() &&
      !read_int(opts, "localKvBlocks", &lo.local_kv_blocks, &err))
    return throw_invalid(env, err);
  if (opts.Has("graphs") && !opts.Get("graphs").IsUndefined()) {
    if (!opts.Get("graphs").IsBoolean()) return throw_invalid(env, "graphs must be a boolean");
    lo.graphs = opts.Get("graphs").As<Napi::Boolean>().Value();
  }
  if (opts.Has("kvDtype") && !opts.Get("kvDtype").IsUndefined()) {
    std::string kd;
    if (!read_string(opts, "kvDtype", &kd, &err)) return throw_invalid(env, err);
    if (!parse_dtype(kd, &lo.kv_dtype)) return throw_invalid(env, "kvDtype must be F32, F16 or BF16, not " + kd);
  }
  if (!acquire(env)) return env.Undefined();
  auto* worker = new LoadWorker(env, holder_, std::move(path), std::move(tensors), lo);
  Napi::Promise promise = worker->promise();
  worker->queue(env);
  return promise;
}

// step({ tokenIds, positions, seqStarts, blockTables, localBlockTables?, maxBlocks, outputRows, output,
//        sampling?, steps? }); output 'sample' (with `sampling`, napi/step_sampling.h) computes the logits
// of the output rows and returns the token sampled from each ([R] Int32Array, -1 where a row has no
// usable logit) instead of the logits. `steps` > 1 with output 'argmax' or 'sample' runs that many
// decode steps (StepInput::steps; 'sample' then takes [steps, R] uniforms in sampling.u and keeps the
// penalty state up to date between steps, cpu/sampling_run.h) and returns [steps, R] ids.
Napi::Value NativeModel::step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return throw_invalid(env, "step(batch) expects an object");
  Napi::Object b = info[0].As<Napi::Object>();
  StepInput in;
  std::string err, output;
  if (!read_int32_array(b, "tokenIds", &in.token_ids, &err) || !read_int32_array(b, "positions", &in.positions, &err) ||
      !read_int32_array(b, "seqStarts", &in.seq_starts, &err) ||
      !read_int32_array(b, "blockTables", &in.block_tables, &err) || !read_int(b, "maxBlocks", &in.max_blocks, &err) ||
      !read_int32_array(b, "outputRows", &in.output_rows, &err) || !read_string(b, "output", &output, &err))
    return throw_invalid(env, err);
  if (b.Has("localBlockTables") && !b.Get("localBlockTables").IsUndefined() &&
      !read_int32_array(b, "localBlockTables", &in.local_block_tables, &err))
    return throw_invalid(env, err);
  if (b.Has("steps") && !b.Get("steps").IsUndefined() && !read_int(b, "steps", &in.steps, &err))
    return throw_invalid(env, err);
  if (in.steps < 1 || in.steps > kMaxRunAheadSteps)
    return throw_invalid(env, "steps must be in [1, " + std::to_string(kMaxRunAheadSteps) + "]");
  if (output == "logits") in.output = OutputKind::kLogits;
  else if (output == "hidden") in.output = OutputKind::kHidden;
  else if (output == "argmax") in.output = OutputKind::kArgmax;
  else if (output == "none") in.output = OutputKind::kNone;
  else if (output == "mean") in.output = OutputKind::kMeanPooled;
  else if (output == "sample") in.output = OutputKind::kLogits;
  else return throw_invalid(env, "output must be 'logits', 'hidden', 'argmax', 'mean', 'sample' or 'none'");
  std::unique_ptr<cpu::SamplingBatch> sampling;
  if (output == "sample") {
    sampling = std::make_unique<cpu::SamplingBatch>();
    if (!read_sampling_batch(b.Get("sampling"), static_cast<int>(in.output_rows.size()), vocab_size_,
                             &sampling_marks_, sampling.get(), &err, in.steps))
      return throw_invalid(env, err);
  }
  if (!acquire(env)) return env.Undefined();
  auto* worker = new StepWorker(env, holder_, std::move(in), std::move(sampling));
  Napi::Promise promise = worker->promise();
  worker->queue(env);
  return promise;
}

Napi::Value NativeModel::info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("backend", backend_name_);
  o.Set("stepSampling", true);  // step() accepts output 'sample'
  o.Set("runAheadSteps", kMaxRunAheadSteps);  // step() accepts `steps` up to this (run-ahead)
  // Skip the details while a worker holds the model (never block the JS thread).
  std::unique_lock<std::mutex> lock(holder_->mu, std::try_to_lock);
  if (lock.owns_lock() && holder_->model) {
    o.Set("weightBytes", static_cast<double>(holder_->model->weight_bytes()));
    o.Set("kvBytes", static_cast<double>(holder_->model->kv_bytes()));
    o.Set("kvBlocks", holder_->model->kv_blocks());
    o.Set("localKvBlocks", holder_->model->local_kv_blocks());
    o.Set("blockSize", holder_->model->block_size());
    const GraphStats g = holder_->model->graph_stats();
    Napi::Object graphs = Napi::Object::New(env);
    graphs.Set("enabled", g.enabled);
    graphs.Set("recorded", static_cast<double>(g.recorded));
    graphs.Set("replays", static_cast<double>(g.replays));
    if (!g.disabled_reason.empty()) graphs.Set("disabledReason", g.disabled_reason);
    o.Set("graphs", graphs);
    Napi::Object prefilter = Napi::Object::New(env);
    const DeviceSamplingStats ds = holder_->device_sampler ? holder_->device_sampler->stats() : DeviceSamplingStats();
    prefilter.Set("enabled", sampling_prefilter_on(holder_->model->backend()));
    prefilter.Set("candidateRows", static_cast<double>(ds.candidate_rows));
    prefilter.Set("fullRows", static_cast<double>(ds.full_rows));
    prefilter.Set("draw", sampling_draw_on());
    prefilter.Set("drawnRows", static_cast<double>(ds.drawn_rows));
    prefilter.Set("drawnNucleusRows", static_cast<double>(ds.drawn_nucleus_rows));
    prefilter.Set("uncertainDraws", static_cast<double>(ds.uncertain_draws));
    prefilter.Set("nucleusRows", static_cast<double>(ds.nucleus_rows));
    prefilter.Set("nucleusMisses", static_cast<double>(ds.nucleus_misses));
    prefilter.Set("nucleusCandidates", ds.nucleus_candidates);
    o.Set("samplingPrefilter", prefilter);
    const std::vector<std::string> switches = holder_->model->backend().experimental_switches();
    Napi::Array on = Napi::Array::New(env, switches.size());
    for (size_t i = 0; i < switches.size(); ++i) on.Set(static_cast<uint32_t>(i), switches[i]);
    o.Set("experimental", on);
  }
  o.Set("disposed", holder_->disposed.load());
  return o;
}

Napi::Value NativeModel::dispose(const Napi::CallbackInfo& info) {
  holder_->disposed.store(true);
  if (!holder_->busy.load()) {  // else the worker in flight frees the model
    std::lock_guard<std::mutex> lock(holder_->mu);
    holder_->release();
  }
  return info.Env().Undefined();
}

}  // namespace gptneo::napi
