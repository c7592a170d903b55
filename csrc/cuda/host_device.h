// GN_HD: functions that compile for the device and the host alike, so that host tests can run the
// index math of a kernel (tc_fragments.h, gemv_stream_plan.h) without a GPU.
#pragma once

#if defined(__CUDACC__)
#define GN_HD __host__ __device__ __forceinline__
#define GN_HD_CONSTEXPR __host__ __device__ constexpr
#else
#define GN_HD inline
#define GN_HD_CONSTEXPR constexpr
#endif
