#include "batch_norm_relu_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <vector>

// The innermost loops are compiled for AVX-512, AVX2 and baseline x86-64, the best one picked
// when the program loads (GCC function multiversioning); elsewhere they are plain functions.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SKIPZOO_VECTOR_LOOP __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#else
#define SKIPZOO_VECTOR_LOOP
#endif

namespace skipzoo::models::detail {
namespace {

// Float partial sums cover at most this many values of a channel before going into double:
// few enough that float's rounding stays near its epsilon, enough to vectorise.
constexpr int64_t kPlaneBlock = 2048;  // contiguous: values of one plane
constexpr int64_t kRowBlock = 64;      // channels-last: rows
// Channels-last sums split the rows into this many chunks whatever the thread count, so the
// order of the additions, and the result, does not depend on it.
constexpr int64_t kRowChunks = 16;
// Channels-last rows narrower than this are walked several at a time (ResNet-20's 16
// channels: four rows of 16 as one row of 64), so the inner loop stays long enough to pay.
constexpr int64_t kMinRowWidth = 64;
// Elementwise loops hand out about this many values per task.
constexpr int64_t kGrainValues = 32768;

// ReLU that keeps NaN (as torch::relu): the comparison is false for NaN.
inline float clamp_below_zero(float v) { return v < 0.f ? 0.f : v; }
// ReLU's gradient (as torch's threshold_backward): the gradient where the output was positive.
// Both values are loaded first, so the select compiles to a blend, not a branch that the random
// signs would mispredict half the time.
inline float masked(float grad, uint8_t positive) { return positive != 0 ? grad : 0.f; }

// ---- innermost loops: `rows` rows of `w` values (channels-last; per-channel vectors tiled to
// w) or one plane segment of `n` values of one channel (contiguous; per-channel scalars) ----

SKIPZOO_VECTOR_LOOP
void moments_rows(const float* __restrict x, int64_t rows, int64_t w, const float* __restrict shift,
                  float* __restrict sa, float* __restrict sb) {
  for (int64_t r = 0; r < rows; ++r, x += w) {
    for (int64_t j = 0; j < w; ++j) {
      const float d = x[j] - shift[j];
      sa[j] += d;
      sb[j] += d * d;
    }
  }
}

SKIPZOO_VECTOR_LOOP
void moments_plane(const float* __restrict x, int64_t n, float shift, double* sa, double* sb) {
  constexpr int kLanes = 16;
  float la[kLanes] = {}, lb[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int v = 0; v < kLanes; ++v) {
      const float d = x[i + v] - shift;
      la[v] += d;
      lb[v] += d * d;
    }
  }
  for (; i < n; ++i) {
    const float d = x[i] - shift;
    la[0] += d;
    lb[0] += d * d;
  }
  for (int v = 0; v < kLanes; ++v) {
    *sa += la[v];
    *sb += lb[v];
  }
}

SKIPZOO_VECTOR_LOOP
void grad_sums_rows(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x, int64_t rows,
                    int64_t w, const float* __restrict mean, float* __restrict sa, float* __restrict sb,
                    float* __restrict masked_grad) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * w;
    for (int64_t j = 0; j < w; ++j) {
      const float g = masked(dy[o + j], positive[o + j]);
      if (masked_grad != nullptr) masked_grad[o + j] = g;
      sa[j] += g;
      sb[j] += g * (x[o + j] - mean[j]);
    }
  }
}

SKIPZOO_VECTOR_LOOP
void grad_sums_plane(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x, int64_t n,
                     float mean, double* sa, double* sb, float* __restrict masked_grad) {
  constexpr int kLanes = 16;
  float la[kLanes] = {}, lb[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int v = 0; v < kLanes; ++v) {
      const float g = masked(dy[i + v], positive[i + v]);
      if (masked_grad != nullptr) masked_grad[i + v] = g;
      la[v] += g;
      lb[v] += g * (x[i + v] - mean);
    }
  }
  for (; i < n; ++i) {
    const float g = masked(dy[i], positive[i]);
    if (masked_grad != nullptr) masked_grad[i] = g;
    la[0] += g;
    lb[0] += g * (x[i] - mean);
  }
  for (int v = 0; v < kLanes; ++v) {
    *sa += la[v];
    *sb += lb[v];
  }
}

// out = max(x * scale + offset (+ residual), 0) and positive = out > 0 over n values;
// scale/offset have n entries (a tiled row) or one (one channel: `per_value` false).
SKIPZOO_VECTOR_LOOP
void apply_values(const float* __restrict x, const float* __restrict residual, int64_t n, const float* __restrict scale,
                  const float* __restrict offset, bool per_value, float* __restrict out, uint8_t* __restrict positive) {
  auto store = [&](int64_t i, float v) {
    out[i] = clamp_below_zero(v);
    positive[i] = v > 0.f;
  };
  if (per_value) {
    if (residual != nullptr) {
      for (int64_t i = 0; i < n; ++i) store(i, x[i] * scale[i] + offset[i] + residual[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) store(i, x[i] * scale[i] + offset[i]);
    }
    return;
  }
  const float s = *scale, o = *offset;
  if (residual != nullptr) {
    for (int64_t i = 0; i < n; ++i) store(i, x[i] * s + o + residual[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) store(i, x[i] * s + o);
  }
}

// dx = masked(dy, y) * k_grad + (x - mean) * k_x + k_const over n values, coefficients as in
// apply_values.
SKIPZOO_VECTOR_LOOP
void affine_grad_values(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x, int64_t n,
                        const float* __restrict mean, const float* __restrict k_grad, const float* __restrict k_x,
                        const float* __restrict k_const, bool per_value, float* __restrict dx) {
  if (per_value) {
    for (int64_t i = 0; i < n; ++i) dx[i] = masked(dy[i], positive[i]) * k_grad[i] + (x[i] - mean[i]) * k_x[i] + k_const[i];
    return;
  }
  const float m = *mean, kg = *k_grad, kx = *k_x, kc = *k_const;
  for (int64_t i = 0; i < n; ++i) dx[i] = masked(dy[i], positive[i]) * kg + (x[i] - m) * kx + kc;
}

// ---- the walks over the tensor -------------------------------------------------------------

// Channels-last data as rows of `width` values, a whole number of channel groups; value j of a
// row belongs to channel j % C. Contiguous data: width is C (unused by the plane loops).
int64_t row_width(const ActivationLayout& l) {
  int64_t width = l.c;
  if (l.channels_last) {
    while (width * 2 <= kMinRowWidth) width *= 2;
  }
  return width;
}

// A per-channel vector repeated to the row width, so that a row's value j reads entry j.
std::vector<float> tiled(const float* per_channel, const ActivationLayout& l) {
  std::vector<float> out(static_cast<size_t>(row_width(l)));
  for (size_t j = 0; j < out.size(); ++j) out[j] = per_channel[static_cast<int64_t>(j) % l.c];
  return out;
}

// Per-channel sums into sum_a, sum_b (C each). Channels-last: rows(offset, rows, w, fa, fb) adds
// `rows` rows of w values from value `offset` into float sums fa, fb (w each). Contiguous:
// plane(offset, n, c, da, db) adds n values of channel c from `offset` into double sums.
template <typename Rows, typename Plane>
void reduce_channels(const ActivationLayout& l, double* sum_a, double* sum_b, const Rows& rows_fn, const Plane& plane_fn) {
  const int64_t C = l.c;
  if (!l.channels_last) {
    at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double da = 0, db = 0;
        for (int64_t n = 0; n < l.n; ++n) {
          const int64_t plane = (n * C + c) * l.hw;
          for (int64_t j = 0; j < l.hw; j += kPlaneBlock) plane_fn(plane + j, std::min(kPlaneBlock, l.hw - j), c, &da, &db);
        }
        sum_a[c] = da;
        sum_b[c] = db;
      }
    });
    return;
  }
  const int64_t W = row_width(l), total = l.n * l.hw * C;
  const int64_t rows = (total + W - 1) / W;  // the last one may be shorter (whole channel groups)
  const int64_t chunks = std::min(rows, kRowChunks);
  std::vector<double> partial(static_cast<size_t>(chunks * 2 * W), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> fa(static_cast<size_t>(W)), fb(static_cast<size_t>(W));
    for (int64_t k = k0; k < k1; ++k) {
      double* da = partial.data() + k * 2 * W;
      double* db = da + W;
      const int64_t r_end = rows * (k + 1) / chunks;
      for (int64_t r = rows * k / chunks; r < r_end; r += kRowBlock) {
        std::fill(fa.begin(), fa.end(), 0.f);
        std::fill(fb.begin(), fb.end(), 0.f);
        const int64_t block_end = std::min(r_end, r + kRowBlock);
        const int64_t full_end = std::min(block_end, total / W);
        rows_fn(r * W, full_end - r, W, fa.data(), fb.data());
        if (full_end < block_end) rows_fn(full_end * W, 1, total - full_end * W, fa.data(), fb.data());
        for (int64_t j = 0; j < W; ++j) {
          da[j] += fa[j];
          db[j] += fb[j];
        }
      }
    }
  });
  std::fill(sum_a, sum_a + C, 0.0);
  std::fill(sum_b, sum_b + C, 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    for (int64_t j = 0; j < W; ++j) {
      sum_a[j % C] += partial[k * 2 * W + j];
      sum_b[j % C] += partial[k * 2 * W + W + j];
    }
  }
}

// values(offset, n, j0, per_value) for every stretch of values: channels-last rows (j0 = 0,
// per_value: coefficient vectors tiled to the row) or one channel's plane (j0 = its channel).
template <typename Values>
void for_each_stretch(const ActivationLayout& l, const Values& values) {
  const int64_t C = l.c;
  if (l.channels_last) {
    const int64_t W = row_width(l), total = l.n * l.hw * C;
    at::parallel_for(0, (total + W - 1) / W, std::max<int64_t>(1, kGrainValues / W), [&](int64_t r0, int64_t r1) {
      const int64_t begin = r0 * W, end = std::min(total, r1 * W);
      for (int64_t o = begin; o < end; o += W) values(o, std::min(W, end - o), 0, true);
    });
    return;
  }
  at::parallel_for(0, l.n * C, std::max<int64_t>(1, kGrainValues / std::max<int64_t>(l.hw, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) values(p * l.hw, l.hw, p % C, false);
  });
}

}  // namespace

void channel_moments(const float* x, const ActivationLayout& l, const float* shift, double* sum, double* sum_sq) {
  const auto s = tiled(shift, l);
  reduce_channels(
      l, sum, sum_sq,
      [&](int64_t o, int64_t rows, int64_t w, float* fa, float* fb) { moments_rows(x + o, rows, w, s.data(), fa, fb); },
      [&](int64_t o, int64_t n, int64_t c, double* da, double* db) { moments_plane(x + o, n, shift[c], da, db); });
}

void scale_add_relu(const float* x, const float* residual, const ActivationLayout& l, const float* scale,
                    const float* offset, float* out, uint8_t* positive) {
  const auto s = tiled(scale, l), b = tiled(offset, l);
  for_each_stretch(l, [&](int64_t o, int64_t n, int64_t j0, bool per_value) {
    apply_values(x + o, residual != nullptr ? residual + o : nullptr, n, s.data() + j0, b.data() + j0, per_value, out + o,
                 positive + o);
  });
}

void masked_grad_sums(const float* dy, const uint8_t* positive, const float* x, const ActivationLayout& l, const float* mean,
                      double* sum_g, double* sum_gx, float* masked_grad) {
  const auto m = tiled(mean, l);
  auto out = [&](int64_t o) { return masked_grad != nullptr ? masked_grad + o : nullptr; };
  reduce_channels(
      l, sum_g, sum_gx,
      [&](int64_t o, int64_t rows, int64_t w, float* fa, float* fb) {
        grad_sums_rows(dy + o, positive + o, x + o, rows, w, m.data(), fa, fb, out(o));
      },
      [&](int64_t o, int64_t n, int64_t c, double* da, double* db) {
        grad_sums_plane(dy + o, positive + o, x + o, n, mean[c], da, db, out(o));
      });
}

void masked_affine_grad(const float* dy, const uint8_t* positive, const float* x, const ActivationLayout& l, const float* mean,
                        const float* k_grad, const float* k_x, const float* k_const, float* dx) {
  const auto m = tiled(mean, l), kg = tiled(k_grad, l), kx = tiled(k_x, l), kc = tiled(k_const, l);
  for_each_stretch(l, [&](int64_t o, int64_t n, int64_t j0, bool per_value) {
    affine_grad_values(dy + o, positive + o, x + o, n, m.data() + j0, kg.data() + j0, kx.data() + j0, kc.data() + j0,
                       per_value, dx + o);
  });
}

}  // namespace skipzoo::models::detail
