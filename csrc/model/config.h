// The GPT-Neo hyper-parameters the native forward pass needs (validated in TypeScript first,
// re-checked in ModelConfig::validate()).
#pragma once
#include <string>
#include <vector>

#include "core/status.h"

namespace gptneo {

struct ModelConfig {
  int vocab_size = 0;
  int max_positions = 0;
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int intermediate = 0;
  int window = 0;                 // local attention window (keys i-window < j <= i)
  float layer_norm_eps = 1e-5f;
  std::vector<bool> layer_is_local;  // [layers]

  int head_dim() const { return heads > 0 ? hidden / heads : 0; }

  Status validate() const {
    GN_CHECK_ARG(vocab_size > 0, "config: vocab_size must be positive");
    GN_CHECK_ARG(max_positions > 0, "config: max_position_embeddings must be positive");
    GN_CHECK_ARG(hidden > 0 && heads > 0 && hidden % heads == 0,
                 "config: hidden_size must be a positive multiple of num_heads");
    GN_CHECK_ARG(layers > 0, "config: num_layers must be positive");
    GN_CHECK_ARG(intermediate > 0, "config: intermediate_size must be positive");
    GN_CHECK_ARG(window > 0, "config: window_size must be positive");
    GN_CHECK_ARG(layer_norm_eps > 0.f, "config: layer_norm_epsilon must be positive");
    GN_CHECK_ARG(static_cast<int>(layer_is_local.size()) == layers,
                 "config: attention_layers must have one entry per layer");
    return Status::Ok();
  }
};

}  // namespace gptneo
