#include "batch_norm_relu_kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <vector>

// The innermost loops are compiled for AVX-512, AVX2 and baseline x86-64, the version picked by
// the instruction sets the CPU reports when the program loads (GCC function multiversioning);
// other compilers build the baseline only.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SKIPZOO_VECTOR_LOOP __attribute__((target_clones("avx512f", "avx2", "default")))
#define SKIPZOO_INLINE inline __attribute__((always_inline))
#else
#define SKIPZOO_VECTOR_LOOP
#define SKIPZOO_INLINE inline
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
SKIPZOO_INLINE float clamp_below_zero(float v) { return v < 0.f ? 0.f : v; }
// ReLU's mask as torch's threshold_backward reads it: the gradient passes unless the output is
// <= 0 (so it passes where the output is NaN).
SKIPZOO_INLINE uint8_t passes(float v) { return !(v <= 0.f); }
// The masked gradient. Both values are loaded first, so the select compiles to a blend, not a
// branch that the random signs would mispredict half the time.
SKIPZOO_INLINE float masked(float grad, uint8_t pass) { return pass != 0 ? grad : 0.f; }

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

// Two sums of term(i, a, b) over i < n, in kLanes float lanes (vectorised), added to *sa, *sb.
template <typename Term>
SKIPZOO_INLINE void lane_sums(int64_t n, const Term& term, double* sa, double* sb) {
  constexpr int kLanes = 16;
  float la[kLanes] = {}, lb[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int v = 0; v < kLanes; ++v) term(i + v, la[v], lb[v]);
  }
  for (; i < n; ++i) term(i, la[0], lb[0]);
  for (int v = 0; v < kLanes; ++v) {
    *sa += la[v];
    *sb += lb[v];
  }
}

SKIPZOO_VECTOR_LOOP
void moments_plane(const float* __restrict x, int64_t n, float shift, double* sa, double* sb) {
  lane_sums(
      n,
      [&](int64_t i, float& a, float& b) {
        const float d = x[i] - shift;
        a += d;
        b += d * d;
      },
      sa, sb);
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
  lane_sums(
      n,
      [&](int64_t i, float& a, float& b) {
        const float g = masked(dy[i], positive[i]);
        if (masked_grad != nullptr) masked_grad[i] = g;
        a += g;
        b += g * (x[i] - mean);
      },
      sa, sb);
}

// out = max(x * scale + offset (+ residual), 0) and, when positive is not null, ReLU's mask;
// rows of w values with coefficient vectors of w entries (channels-last), or a plane's n values
// with its channel's coefficients (contiguous).
SKIPZOO_VECTOR_LOOP
void apply_rows(const float* __restrict x, const float* __restrict residual, int64_t rows, int64_t w,
                const float* __restrict scale, const float* __restrict offset, float* __restrict out,
                uint8_t* __restrict positive) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * w;
    for (int64_t j = 0; j < w; ++j) {
      const float v = x[o + j] * scale[j] + offset[j] + (residual != nullptr ? residual[o + j] : 0.f);
      out[o + j] = clamp_below_zero(v);
      if (positive != nullptr) positive[o + j] = passes(v);
    }
  }
}

SKIPZOO_VECTOR_LOOP
void apply_plane(const float* __restrict x, const float* __restrict residual, int64_t n, float scale, float offset,
                 float* __restrict out, uint8_t* __restrict positive) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] * scale + offset + (residual != nullptr ? residual[i] : 0.f);
    out[i] = clamp_below_zero(v);
    if (positive != nullptr) positive[i] = passes(v);
  }
}

// dx = masked(dy) * k_grad + (x - mean) * k_x + k_const, laid out as in apply_rows / apply_plane.
SKIPZOO_VECTOR_LOOP
void affine_grad_rows(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x,
                      int64_t rows, int64_t w, const float* __restrict mean, const float* __restrict k_grad,
                      const float* __restrict k_x, const float* __restrict k_const, float* __restrict dx) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * w;
    for (int64_t j = 0; j < w; ++j) {
      dx[o + j] = masked(dy[o + j], positive[o + j]) * k_grad[j] + (x[o + j] - mean[j]) * k_x[j] + k_const[j];
    }
  }
}

SKIPZOO_VECTOR_LOOP
void affine_grad_plane(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x,
                       int64_t n, float mean, float k_grad, float k_x, float k_const, float* __restrict dx) {
  for (int64_t i = 0; i < n; ++i) dx[i] = masked(dy[i], positive[i]) * k_grad + (x[i] - mean) * k_x + k_const;
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

// Every value once, in parallel. Channels-last: rows_fn(offset, rows, w) for runs of rows of w
// values from value `offset` (the last row may be shorter). Contiguous: plane_fn(offset, n, c)
// for each plane of n values of channel c.
template <typename Rows, typename Plane>
void for_each_value(const ActivationLayout& l, const Rows& rows_fn, const Plane& plane_fn) {
  const int64_t C = l.c;
  if (l.channels_last) {
    const int64_t W = row_width(l), total = l.n * l.hw * C, full_rows = total / W;
    at::parallel_for(0, (total + W - 1) / W, std::max<int64_t>(1, kGrainValues / W), [&](int64_t r0, int64_t r1) {
      const int64_t full_end = std::min(r1, full_rows);
      if (full_end > r0) rows_fn(r0 * W, full_end - r0, W);
      if (r1 > full_rows) rows_fn(full_rows * W, 1, total - full_rows * W);
    });
    return;
  }
  at::parallel_for(0, l.n * C, std::max<int64_t>(1, kGrainValues / std::max<int64_t>(l.hw, 1)), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) plane_fn(p * l.hw, l.hw, p % C);
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
  auto r = [&](int64_t o) { return residual != nullptr ? residual + o : nullptr; };
  auto p = [&](int64_t o) { return positive != nullptr ? positive + o : nullptr; };
  for_each_value(
      l, [&](int64_t o, int64_t rows, int64_t w) { apply_rows(x + o, r(o), rows, w, s.data(), b.data(), out + o, p(o)); },
      [&](int64_t o, int64_t n, int64_t c) { apply_plane(x + o, r(o), n, scale[c], offset[c], out + o, p(o)); });
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
  for_each_value(
      l,
      [&](int64_t o, int64_t rows, int64_t w) {
        affine_grad_rows(dy + o, positive + o, x + o, rows, w, m.data(), kg.data(), kx.data(), kc.data(), dx + o);
      },
      [&](int64_t o, int64_t n, int64_t c) {
        affine_grad_plane(dy + o, positive + o, x + o, n, mean[c], k_grad[c], k_x[c], k_const[c], dx + o);
      });
}

}  // namespace skipzoo::models::detail
