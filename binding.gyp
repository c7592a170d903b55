{
  "variables": {
    "gptneo_common_cflags": ["-O3", "-fPIC", "-std=c++17", "-fexceptions", "-Wall", "-Wno-unused-function"]
  },
  "target_defaults": {
    "include_dirs": ["csrc", "<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "cflags_cc": ["<@(gptneo_common_cflags)"]
  },
  "targets": [
    {
      "target_name": "gptneo_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.mjs cpu_avx2)"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c"]
    },
    {
      "target_name": "gptneo_avx512",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.mjs cpu_avx512)"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16"]
    },
    {
      "target_name": "gptneo",
      "dependencies": ["gptneo_avx2", "gptneo_avx512"],
      "sources": ["<!@(node scripts/sources.mjs core cpu model napi)"],
      "libraries": ["-lpthread"]
    }
  ]
}
