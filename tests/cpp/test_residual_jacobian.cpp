// Problems 11.1 and 11.3 on a 4-block residual MLP: the network written as one sum, and the
// derivative of its output with respect to the first block's output, assembled from the
// blocks' own Jacobians exactly as the chapter expands it, against autograd.
#include <gtest/gtest.h>
#include <torch/torch.h>

namespace {

constexpr int64_t kDim = 4;

// Rows d y_i / d wrt, by autograd (y must depend on wrt through a graph).
torch::Tensor jacobian(const torch::Tensor& y, const torch::Tensor& wrt) {
  std::vector<torch::Tensor> rows;
  for (int64_t i = 0; i < y.numel(); ++i) {
    rows.push_back(torch::autograd::grad({y[i]}, {wrt}, {}, /*retain_graph=*/true)[0]);
  }
  return torch::stack(rows);
}

// The Jacobian of one block at the point it is evaluated.
torch::Tensor block_jacobian(torch::nn::Sequential& f, const torch::Tensor& at) {
  auto in = at.detach().requires_grad_();
  return jacobian(f->forward(in), in);
}

struct ResidualMlp {
  std::vector<torch::nn::Sequential> f;
  ResidualMlp() {
    torch::manual_seed(0);
    for (int k = 0; k < 4; ++k) {
      f.emplace_back(torch::nn::Linear(kDim, 8), torch::nn::Tanh(), torch::nn::Linear(8, kDim));
      f.back()->to(torch::kDouble);
    }
  }
};

TEST(ResidualJacobian, NetworkIsTheSumOfItsBlocks) {  // problem 11.1
  ResidualMlp net;
  auto& f = net.f;
  auto x = torch::randn({kDim}, torch::kDouble);
  auto h1 = x + f[0]->forward(x);  // h_k = h_{k-1} + f_k[h_{k-1}]
  auto h2 = h1 + f[1]->forward(h1);
  auto h3 = h2 + f[2]->forward(h2);
  auto y = h3 + f[3]->forward(h3);
  auto f1 = f[0]->forward(x);
  auto f2 = f[1]->forward(x + f1);
  auto f3 = f[2]->forward(x + f1 + f2);
  auto expanded = x + f1 + f2 + f3 + f[3]->forward(x + f1 + f2 + f3);
  EXPECT_TRUE(torch::allclose(y, expanded, 0, 1e-14));
}

TEST(ResidualJacobian, DerivativeWithRespectToTheFirstBlock) {  // problem 11.3
  ResidualMlp net;
  auto& f = net.f;
  auto x = torch::randn({kDim}, torch::kDouble);
  // The output of f1 as the variable: y = x + a + f2(x + a) + f3(...) + f4(...).
  auto a = f[0]->forward(x).detach().requires_grad_();
  auto h1 = x + a;
  auto h2 = h1 + f[1]->forward(h1);
  auto h3 = h2 + f[2]->forward(h2);
  auto y = h3 + f[3]->forward(h3);
  const auto by_autograd = jacobian(y, a);

  // f_k reads x + f1 + ... + f_{k-1}, so the direct derivative of f_k by any earlier f_j is
  // J_k, the block's own Jacobian at its input.
  const auto J2 = block_jacobian(f[1], h1), J3 = block_jacobian(f[2], h2), J4 = block_jacobian(f[3], h3);
  const auto I = torch::eye(kDim, torch::kDouble);
  const auto chapter = I + J2 + (J3 + J3.mm(J2)) + (J4 + J4.mm(J2) + J4.mm(J3) + J4.mm(J3).mm(J2));
  EXPECT_TRUE(torch::allclose(by_autograd, chapter, 0, 1e-12)) << by_autograd << chapter;
  // ... which is the product of the blocks' (I + J_k).
  EXPECT_TRUE(torch::allclose(chapter, (I + J4).mm(I + J3).mm(I + J2), 0, 1e-12));
  // The identity paths matter: without them the derivative is far from I + (...).
  EXPECT_GT((by_autograd - J4.mm(J3).mm(J2)).abs().max().item<double>(), 0.5);
}

}  // namespace
