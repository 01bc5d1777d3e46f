#include "batch_norm_relu_kernels.h"

#include "vector_loop.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <vector>

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

constexpr int kLanes = 16;
// K sums over i < n, in kLanes float lanes (vectorised), added to sums[0..K): term(i, lane, acc)
// adds value i's terms to acc[k][lane].
template <int K, typename Term>
SKIPZOO_INLINE void lane_sums(int64_t n, const Term& term, double* sums) {
  float acc[K][kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int v = 0; v < kLanes; ++v) term(i + v, v, acc);
  }
  for (; i < n; ++i) term(i, 0, acc);
  for (int k = 0; k < K; ++k) {
    for (int v = 0; v < kLanes; ++v) sums[k] += acc[k][v];
  }
}

SKIPZOO_VECTOR_LOOP
void moments_plane(const float* __restrict x, int64_t n, float shift, double* sums) {
  lane_sums<2>(
      n,
      [&](int64_t i, int v, float(&acc)[2][kLanes]) {
        const float d = x[i] - shift;
        acc[0][v] += d;
        acc[1][v] += d * d;
      },
      sums);
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

// As grad_sums_rows, with a third sum over the shortcut's input x2 (and no masked gradient).
SKIPZOO_VECTOR_LOOP
void grad_sums2_rows(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x,
                     const float* __restrict x2, int64_t rows, int64_t w, const float* __restrict mean,
                     const float* __restrict mean2, float* __restrict sa, float* __restrict sb, float* __restrict sc) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * w;
    for (int64_t j = 0; j < w; ++j) {
      const float g = masked(dy[o + j], positive[o + j]);
      sa[j] += g;
      sb[j] += g * (x[o + j] - mean[j]);
      sc[j] += g * (x2[o + j] - mean2[j]);
    }
  }
}

SKIPZOO_VECTOR_LOOP
void grad_sums_plane(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x, int64_t n,
                     float mean, double* sums, float* __restrict masked_grad) {
  lane_sums<2>(
      n,
      [&](int64_t i, int v, float(&acc)[2][kLanes]) {
        const float g = masked(dy[i], positive[i]);
        if (masked_grad != nullptr) masked_grad[i] = g;
        acc[0][v] += g;
        acc[1][v] += g * (x[i] - mean);
      },
      sums);
}

SKIPZOO_VECTOR_LOOP
void grad_sums2_plane(const float* __restrict dy, const uint8_t* __restrict positive, const float* __restrict x,
                      const float* __restrict x2, int64_t n, float mean, float mean2, double* sums) {
  lane_sums<3>(
      n,
      [&](int64_t i, int v, float(&acc)[3][kLanes]) {
        const float g = masked(dy[i], positive[i]);
        acc[0][v] += g;
        acc[1][v] += g * (x[i] - mean);
        acc[2][v] += g * (x2[i] - mean2);
      },
      sums);
}

// out = max(x * scale + offset (+ residual * residual_scale), 0) and, when positive is not null,
// ReLU's mask; rows of w values with coefficient vectors of w entries (channels-last), or a
// plane's n values with its channel's coefficients (contiguous).
SKIPZOO_VECTOR_LOOP
void apply_rows(const float* __restrict x, const float* __restrict residual, const float* __restrict residual_scale,
                int64_t rows, int64_t w, const float* __restrict scale, const float* __restrict offset,
                float* __restrict out, uint8_t* __restrict positive) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * w;
    for (int64_t j = 0; j < w; ++j) {
      const float v =
          x[o + j] * scale[j] + offset[j] + (residual != nullptr ? residual[o + j] * residual_scale[j] : 0.f);
      out[o + j] = clamp_below_zero(v);
      if (positive != nullptr) positive[o + j] = passes(v);
    }
  }
}

SKIPZOO_VECTOR_LOOP
void apply_plane(const float* __restrict x, const float* __restrict residual, float residual_scale, int64_t n,
                 float scale, float offset, float* __restrict out, uint8_t* __restrict positive) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i] * scale + offset + (residual != nullptr ? residual[i] * residual_scale : 0.f);
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

// Two input gradients (a: the block's own normalised input, b: the shortcut's) in one pass over dy
// and the mask: for each, x, mean, k_grad, k_x, k_const, dx, as in affine_grad_rows /
// affine_grad_plane (the rows version takes the per-channel entries tiled to w, the plane version
// its channel's scalars).
SKIPZOO_VECTOR_LOOP
void affine_grad2_rows(const float* __restrict dy, const uint8_t* __restrict positive, int64_t rows, int64_t w,
                       const float* __restrict xa, const float* __restrict ma, const float* __restrict ga,
                       const float* __restrict ka, const float* __restrict ca, float* __restrict dxa,
                       const float* __restrict xb, const float* __restrict mb, const float* __restrict gb,
                       const float* __restrict kb, const float* __restrict cb, float* __restrict dxb) {
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * w;
    for (int64_t j = 0; j < w; ++j) {
      const float g = masked(dy[o + j], positive[o + j]);
      dxa[o + j] = g * ga[j] + (xa[o + j] - ma[j]) * ka[j] + ca[j];
      dxb[o + j] = g * gb[j] + (xb[o + j] - mb[j]) * kb[j] + cb[j];
    }
  }
}

SKIPZOO_VECTOR_LOOP
void affine_grad2_plane(const float* __restrict dy, const uint8_t* __restrict positive, int64_t n,
                        const float* __restrict xa, float ma, float ga, float ka, float ca, float* __restrict dxa,
                        const float* __restrict xb, float mb, float gb, float kb, float cb, float* __restrict dxb) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = masked(dy[i], positive[i]);
    dxa[i] = g * ga + (xa[i] - ma) * ka + ca;
    dxb[i] = g * gb + (xb[i] - mb) * kb + cb;
  }
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

// K per-channel sums into sums (K * C: sum k of channel c at [k * C + c]). Channels-last:
// rows(offset, rows, w, f, W) adds `rows` rows of w values from value `offset` into float sums f
// (sum k of row value j at [k * W + j], W the row width; only the last row may be shorter).
// Contiguous: plane(offset, n, c, d) adds n values of channel c from `offset` into double sums
// d[0..K).
template <int K, typename Rows, typename Plane>
void reduce_channels(const ActivationLayout& l, double* sums, const Rows& rows_fn, const Plane& plane_fn) {
  const int64_t C = l.c;
  if (!l.channels_last) {
    at::parallel_for(0, C, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        double d[K] = {};
        for (int64_t n = 0; n < l.n; ++n) {
          const int64_t plane = (n * C + c) * l.hw;
          for (int64_t j = 0; j < l.hw; j += kPlaneBlock) plane_fn(plane + j, std::min(kPlaneBlock, l.hw - j), c, d);
        }
        for (int k = 0; k < K; ++k) sums[k * C + c] = d[k];
      }
    });
    return;
  }
  const int64_t W = row_width(l), total = l.n * l.hw * C;
  const int64_t rows = (total + W - 1) / W;  // the last one may be shorter (whole channel groups)
  const int64_t chunks = std::min(rows, kRowChunks);
  std::vector<double> partial(static_cast<size_t>(chunks * K * W), 0.0);
  at::parallel_for(0, chunks, 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> f(static_cast<size_t>(K * W));
    for (int64_t k = k0; k < k1; ++k) {
      double* d = partial.data() + k * K * W;
      const int64_t r_end = rows * (k + 1) / chunks;
      for (int64_t r = rows * k / chunks; r < r_end; r += kRowBlock) {
        std::fill(f.begin(), f.end(), 0.f);
        const int64_t block_end = std::min(r_end, r + kRowBlock);
        const int64_t full_end = std::min(block_end, total / W);
        rows_fn(r * W, full_end - r, W, f.data(), W);
        if (full_end < block_end) rows_fn(full_end * W, 1, total - full_end * W, f.data(), W);
        for (int64_t j = 0; j < K * W; ++j) d[j] += f[j];
      }
    }
  });
  std::fill(sums, sums + K * C, 0.0);
  for (int64_t k = 0; k < chunks; ++k) {
    for (int s = 0; s < K; ++s) {
      for (int64_t j = 0; j < W; ++j) sums[s * C + j % C] += partial[(k * K + s) * W + j];
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
  std::vector<double> sums(static_cast<size_t>(2 * l.c));
  reduce_channels<2>(
      l, sums.data(),
      [&](int64_t o, int64_t rows, int64_t w, float* f, int64_t W) { moments_rows(x + o, rows, w, s.data(), f, f + W); },
      [&](int64_t o, int64_t n, int64_t c, double* d) { moments_plane(x + o, n, shift[c], d); });
  std::copy(sums.begin(), sums.begin() + l.c, sum);
  std::copy(sums.begin() + l.c, sums.end(), sum_sq);
}

void scale_add_relu(const float* x, const float* residual, const float* residual_scale, const ActivationLayout& l,
                    const float* scale, const float* offset, float* out, uint8_t* positive) {
  const auto s = tiled(scale, l), b = tiled(offset, l);
  const auto rs = residual != nullptr ? tiled(residual_scale, l) : std::vector<float>{};
  auto r = [&](int64_t o) { return residual != nullptr ? residual + o : nullptr; };
  auto p = [&](int64_t o) { return positive != nullptr ? positive + o : nullptr; };
  for_each_value(
      l,
      [&](int64_t o, int64_t rows, int64_t w) {
        apply_rows(x + o, r(o), rs.data(), rows, w, s.data(), b.data(), out + o, p(o));
      },
      [&](int64_t o, int64_t n, int64_t c) {
        apply_plane(x + o, r(o), residual != nullptr ? residual_scale[c] : 0.f, n, scale[c], offset[c], out + o, p(o));
      });
}

void masked_grad_sums(const float* dy, const uint8_t* positive, const ActivationLayout& l, const NormInput& in,
                      const NormInput* shortcut, double* sum_g, double* sum_gx, double* sum_gx2, float* masked_grad) {
  TORCH_INTERNAL_ASSERT(shortcut == nullptr || masked_grad == nullptr, "a shortcut has no masked gradient to write");
  const int64_t C = l.c;
  const float *x = in.x, *mean = in.mean;
  const auto m = tiled(mean, l);
  std::vector<double> sums;
  if (shortcut == nullptr) {
    auto out = [&](int64_t o) { return masked_grad != nullptr ? masked_grad + o : nullptr; };
    sums.resize(static_cast<size_t>(2 * C));
    reduce_channels<2>(
        l, sums.data(),
        [&](int64_t o, int64_t rows, int64_t w, float* f, int64_t W) {
          grad_sums_rows(dy + o, positive + o, x + o, rows, w, m.data(), f, f + W, out(o));
        },
        [&](int64_t o, int64_t n, int64_t c, double* d) {
          grad_sums_plane(dy + o, positive + o, x + o, n, mean[c], d, out(o));
        });
  } else {
    const float *x2 = shortcut->x, *mean2 = shortcut->mean;
    const auto m2 = tiled(mean2, l);
    sums.resize(static_cast<size_t>(3 * C));
    reduce_channels<3>(
        l, sums.data(),
        [&](int64_t o, int64_t rows, int64_t w, float* f, int64_t W) {
          grad_sums2_rows(dy + o, positive + o, x + o, x2 + o, rows, w, m.data(), m2.data(), f, f + W, f + 2 * W);
        },
        [&](int64_t o, int64_t n, int64_t c, double* d) {
          grad_sums2_plane(dy + o, positive + o, x + o, x2 + o, n, mean[c], mean2[c], d);
        });
    std::copy(sums.begin() + 2 * C, sums.end(), sum_gx2);
  }
  std::copy(sums.begin(), sums.begin() + C, sum_g);
  std::copy(sums.begin() + C, sums.begin() + 2 * C, sum_gx);
}

void masked_affine_grad(const float* dy, const uint8_t* positive, const ActivationLayout& l, const NormInput& in,
                        const NormInput* shortcut) {
  // The per-channel entries tiled to the row width (channels-last loops).
  struct Tiled {
    std::vector<float> mean, k_grad, k_x, k_const;
    Tiled(const NormInput& n, const ActivationLayout& l)
        : mean(tiled(n.mean, l)), k_grad(tiled(n.k_grad, l)), k_x(tiled(n.k_x, l)), k_const(tiled(n.k_const, l)) {}
  };
  const Tiled a(in, l);
  if (shortcut == nullptr) {
    for_each_value(
        l,
        [&](int64_t o, int64_t rows, int64_t w) {
          affine_grad_rows(dy + o, positive + o, in.x + o, rows, w, a.mean.data(), a.k_grad.data(), a.k_x.data(),
                           a.k_const.data(), in.dx + o);
        },
        [&](int64_t o, int64_t n, int64_t c) {
          affine_grad_plane(dy + o, positive + o, in.x + o, n, in.mean[c], in.k_grad[c], in.k_x[c], in.k_const[c],
                            in.dx + o);
        });
    return;
  }
  const NormInput& sc = *shortcut;
  const Tiled b(sc, l);
  for_each_value(
      l,
      [&](int64_t o, int64_t rows, int64_t w) {
        affine_grad2_rows(dy + o, positive + o, rows, w, in.x + o, a.mean.data(), a.k_grad.data(), a.k_x.data(),
                          a.k_const.data(), in.dx + o, sc.x + o, b.mean.data(), b.k_grad.data(), b.k_x.data(),
                          b.k_const.data(), sc.dx + o);
      },
      [&](int64_t o, int64_t n, int64_t c) {
        affine_grad2_plane(dy + o, positive + o, n, in.x + o, in.mean[c], in.k_grad[c], in.k_x[c], in.k_const[c],
                           in.dx + o, sc.x + o, sc.mean[c], sc.k_grad[c], sc.k_x[c], sc.k_const[c], sc.dx + o);
      });
}

}  // namespace skipzoo::models::detail
