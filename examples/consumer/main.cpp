// Uses skipzoo's modules from your own LibTorch code.
#include <skipzoo/models.h>

#include <iostream>

namespace zoo = skipzoo::models;

int main() {
  // A module built directly, LibTorch style ...
  zoo::BasicBlock block(zoo::BlockOptions(16, 32).stride(2));
  auto y = block->forward(torch::randn({2, 16, 9, 9}));

  // ... and a network from the registry, by name.
  auto unet = zoo::create_model({"unet", 3, 1, R"({"depth": 3, "base_width": 8})"}, 0);
  unet.module().eval();
  auto logits = unet.forward(torch::randn({1, 1, 37, 53}));

  std::cout << "block " << y.sizes() << ", unet " << logits.sizes() << "\n";
  const bool ok = y.sizes() == torch::IntArrayRef({2, 32, 5, 5}) && logits.sizes() == torch::IntArrayRef({1, 3, 37, 53});
  return ok ? 0 : 1;
}
