#include <skipzoo/models/upsample_cat.h>

#include <ATen/Parallel.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "vector_loop.h"

namespace skipzoo::models {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Output index o of a 2x bilinear upsampling reads input lo with weight w_lo and hi with w_hi:
// ATen's rule for align_corners=false (source o / 2 - 0.25, clamped at 0; hi clamped to the last
// index), in float as ATen computes it, so the weights are exactly 0, 1/4, 3/4 or 1.
struct Tap {
  int64_t lo, hi;
  float w_lo, w_hi;
};

std::vector<Tap> taps(int64_t in) {
  std::vector<Tap> out(static_cast<size_t>(2 * in));
  const float scale = static_cast<float>(in) / static_cast<float>(2 * in);
  for (int64_t o = 0; o < 2 * in; ++o) {
    const float src = std::max(scale * (static_cast<float>(o) + 0.5f) - 0.5f, 0.f);
    const auto lo = static_cast<int64_t>(src);
    const float w_hi = src - static_cast<float>(lo);
    out[static_cast<size_t>(o)] = {lo, lo < in - 1 ? lo + 1 : lo, 1.f - w_hi, w_hi};
  }
  return out;
}

// The backward's view of the taps: for input index i, every (output index, weight) reading it.
struct Use {
  int64_t out;
  float w;
};

std::vector<std::vector<Use>> uses(const std::vector<Tap>& t, int64_t in) {
  std::vector<std::vector<Use>> by_input(static_cast<size_t>(in));
  for (size_t o = 0; o < t.size(); ++o) {
    by_input[static_cast<size_t>(t[o].lo)].push_back({static_cast<int64_t>(o), t[o].w_lo});
    by_input[static_cast<size_t>(t[o].hi)].push_back({static_cast<int64_t>(o), t[o].w_hi});
  }
  return by_input;
}

// out[k] = wy0 * (wx0 * a[k] + wx1 * b[k]) + wy1 * (wx0 * c[k] + wx1 * d[k]), k < n: one output
// pixel's channels from its four input pixels (a, b on row lo; c, d on row hi).
SKIPZOO_VECTOR_LOOP
void blend(const float* __restrict a, const float* __restrict b, const float* __restrict c, const float* __restrict d,
           float wy0, float wy1, float wx0, float wx1, float* __restrict out, int64_t n) {
  for (int64_t k = 0; k < n; ++k) out[k] = wy0 * (wx0 * a[k] + wx1 * b[k]) + wy1 * (wx0 * c[k] + wx1 * d[k]);
}

// At most 5 output rows (and columns) read one input row (column): 4, and at index 1 also output
// 0's zero-weighted second tap (kept, so that a NaN gradient spreads as in ATen).
constexpr int kMaxTaps = 25;

// acc[k] = sum over t < taps of w[t] * g[t][k], k < n, in the order of t.
SKIPZOO_VECTOR_LOOP
void gather(const float* const* __restrict g, const float* __restrict w, int taps, float* __restrict acc, int64_t n) {
  for (int64_t k = 0; k < n; ++k) acc[k] = 0.f;
  for (int t = 0; t < taps; ++t) {
    const float* __restrict src = g[t];
    const float wt = w[t];
    for (int64_t k = 0; k < n; ++k) acc[k] += wt * src[k];
  }
}

// Sizes of one call, channels-last: x (N, H, W, Cx), skip and out (N, 2H, 2W, Cs / Cx + Cs).
struct Shape {
  int64_t n, h, w, cx, cs;
  int64_t out_c() const { return cx + cs; }
};

Shape shape_of(const Tensor& x, const Tensor& skip) { return {x.size(0), x.size(2), x.size(3), x.size(1), skip.size(1)}; }

void forward_kernel(const float* x, const float* skip, const Shape& s, float* out) {
  const auto ty = taps(s.h), tx = taps(s.w);
  const int64_t OH = 2 * s.h, OW = 2 * s.w, C = s.out_c();
  at::parallel_for(0, s.n * OH, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / OH, oy = r % OH;
      const Tap& y = ty[static_cast<size_t>(oy)];
      const float* row_lo = x + (n * s.h + y.lo) * s.w * s.cx;
      const float* row_hi = x + (n * s.h + y.hi) * s.w * s.cx;
      float* o = out + r * OW * C;
      const float* sk = skip + r * OW * s.cs;
      for (int64_t ox = 0; ox < OW; ++ox, o += C, sk += s.cs) {
        const Tap& t = tx[static_cast<size_t>(ox)];
        blend(row_lo + t.lo * s.cx, row_lo + t.hi * s.cx, row_hi + t.lo * s.cx, row_hi + t.hi * s.cx, y.w_lo, y.w_hi,
              t.w_lo, t.w_hi, o, s.cx);
        std::memcpy(o + s.cx, sk, static_cast<size_t>(s.cs) * sizeof(float));
      }
    }
  });
}

// dx: each input pixel gathers the gradient of the output pixels that read it (a fixed order: the
// same bits whatever the thread count); d_skip: the gradient's last Cs channels. Either may be null.
void backward_kernel(const float* grad, const Shape& s, float* dx, float* d_skip) {
  const int64_t OH = 2 * s.h, OW = 2 * s.w, C = s.out_c();
  if (dx != nullptr) {
    const auto uy = uses(taps(s.h), s.h), ux = uses(taps(s.w), s.w);
    auto most = [](const std::vector<std::vector<Use>>& u) {
      size_t m = 0;
      for (const auto& v : u) m = std::max(m, v.size());
      return m;
    };
    TORCH_INTERNAL_ASSERT(most(uy) * most(ux) <= kMaxTaps, "more taps than the gather holds");
    at::parallel_for(0, s.n * s.h, 1, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t n = r / s.h, iy = r % s.h;
        float* acc = dx + r * s.w * s.cx;
        const float* src[kMaxTaps];
        float w[kMaxTaps];
        for (int64_t ix = 0; ix < s.w; ++ix, acc += s.cx) {
          int taps = 0;
          for (const Use& y : uy[static_cast<size_t>(iy)]) {
            const float* g_row = grad + (n * OH + y.out) * OW * C;
            for (const Use& x : ux[static_cast<size_t>(ix)]) {
              src[taps] = g_row + x.out * C;
              w[taps++] = y.w * x.w;
            }
          }
          gather(src, w, taps, acc, s.cx);
        }
      }
    });
  }
  if (d_skip != nullptr) {
    at::parallel_for(0, s.n * OH * OW, 1024, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        std::memcpy(d_skip + p * s.cs, grad + p * C + s.cx, static_cast<size_t>(s.cs) * sizeof(float));
      }
    });
  }
}

Tensor empty_channels_last(const std::vector<int64_t>& sizes, const Tensor& like) {
  return torch::empty(sizes, like.options().memory_format(at::MemoryFormat::ChannelsLast));
}

class UpsampleCatFunction : public torch::autograd::Function<UpsampleCatFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& skip) {
    const Shape s = shape_of(x, skip);
    auto out = empty_channels_last({s.n, s.out_c(), 2 * s.h, 2 * s.w}, x);
    forward_kernel(x.data_ptr<float>(), skip.data_ptr<float>(), s, out.data_ptr<float>());
    ctx->saved_data["shape"] = std::vector<int64_t>{s.n, s.h, s.w, s.cx, s.cs};
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    TORCH_CHECK(!torch::GradMode::is_enabled(),
                "skipzoo::upsample_cat has no second derivative (backward with create_graph=true)");
    const auto d = ctx->saved_data["shape"].toIntVector();
    const Shape s{d[0], d[1], d[2], d[3], d[4]};
    const Tensor grad = grad_outputs[0].contiguous(at::MemoryFormat::ChannelsLast);
    Tensor dx, d_skip;
    if (ctx->needs_input_grad(0)) dx = empty_channels_last({s.n, s.cx, s.h, s.w}, grad);
    if (ctx->needs_input_grad(1)) d_skip = empty_channels_last({s.n, s.cs, 2 * s.h, 2 * s.w}, grad);
    backward_kernel(grad.data_ptr<float>(), s, dx.defined() ? dx.data_ptr<float>() : nullptr,
                    d_skip.defined() ? d_skip.data_ptr<float>() : nullptr);
    return {dx, d_skip};
  }
};

bool is_float_cpu_4d(const Tensor& t) {
  return t.defined() && t.scalar_type() == torch::kFloat && t.device().is_cpu() && t.layout() == torch::kStrided &&
         t.dim() == 4;
}

// Whether the kernels take these inputs: float CPU, nothing empty, a skip of x's batch and twice
// its size, both stored channels-last (the layout the model runs in), at least one of them not
// also contiguous (one pixel, or one channel, is both).
bool kernels_take(const Tensor& x, const Tensor& skip) {
  if (!is_float_cpu_4d(x) || !is_float_cpu_4d(skip) || x.numel() == 0 || skip.numel() == 0) return false;
  if (skip.size(0) != x.size(0) || skip.size(2) != 2 * x.size(2) || skip.size(3) != 2 * x.size(3)) return false;
  const auto cl = at::MemoryFormat::ChannelsLast;
  return x.is_contiguous(cl) && skip.is_contiguous(cl) && !(x.is_contiguous() && skip.is_contiguous());
}

}  // namespace

Tensor upsample_cat(const Tensor& x, const Tensor& skip) {
  if (kernels_take(x, skip)) {
    RECORD_FUNCTION("skipzoo::upsample_cat", std::vector<c10::IValue>({x}));  // a named op in profiles
    return UpsampleCatFunction::apply(x, skip);
  }
  auto up = torch::upsample_bilinear2d(x, {x.size(2) * 2, x.size(3) * 2}, /*align_corners=*/false);
  return skip.defined() ? torch::cat({up, skip}, 1) : up;
}

}  // namespace skipzoo::models
