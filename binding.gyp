{
  "variables": {
    "gptneo_common_cflags": ["-O3", "-fPIC", "-std=c++17", "-fexceptions", "-Wall", "-Wno-unused-function"],
    "gptneo_cuda%": "<!(node scripts/cuda-detect.mjs enabled)",
    "gptneo_cuda_root%": "<!(node scripts/cuda-detect.mjs root)",
    "gptneo_cuda_libdir%": "<!(node scripts/cuda-detect.mjs libdir)"
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
      "target_name": "gptneo_amx",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.mjs cpu_amx)"],
      "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512bf16",
                    "-mamx-tile", "-mamx-bf16"]
    },
    {
      "target_name": "gptneo",
      "dependencies": ["gptneo_avx2", "gptneo_avx512", "gptneo_amx"],
      "sources": ["<!@(node scripts/sources.mjs core cpu model napi)"],
      "libraries": ["-lpthread"],
      "conditions": [
        ["gptneo_cuda==1", {
          "defines": ["GPTNEO_WITH_CUDA=1"],
          "sources": ["<!@(node scripts/sources.mjs cuda)"],
          "libraries": ["<(gptneo_cuda_libdir)/libcudart_static.a", "-ldl", "-lrt"],
          "rules": [
            {
              "rule_name": "nvcc",
              "extension": "cu",
              "inputs": ["<(RULE_INPUT_PATH)"],
              "outputs": ["<(INTERMEDIATE_DIR)/nvcc/<(RULE_INPUT_DIRNAME)/<(RULE_INPUT_ROOT).o"],
              "action": [
                "<(gptneo_cuda_root)/bin/nvcc", "-std=c++17", "-O3", "-Xcompiler", "-fPIC",
                "<!@(node scripts/cuda-detect.mjs nvccflags)",
                "-I<(module_root_dir)/csrc",
                "-gencode=arch=compute_80,code=sm_80", "-gencode=arch=compute_86,code=sm_86",
                "-gencode=arch=compute_89,code=sm_89", "-gencode=arch=compute_90a,code=sm_90a",
                "-gencode=arch=compute_90,code=compute_90",
                "-c", "<(RULE_INPUT_PATH)", "-o", "<@(_outputs)"
              ],
              "message": "nvcc <(RULE_INPUT_PATH)",
              "process_outputs_as_sources": 1
            }
          ]
        }]
      ]
    }
  ]
}
