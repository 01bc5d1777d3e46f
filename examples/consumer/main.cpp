// Uses skipzoo's modules from your own LibTorch code.
#include <skipzoo/data.h>
#include <skipzoo/models.h>

#include <cmath>
#include <cstdio>
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

  // skipzoo::data: write a small RGB PNG, read it back as a normalised [C, H, W] tensor.
  cv::Mat image(37, 53, CV_8UC3, cv::Scalar(255, 0, 51));
  const std::string path = "consumer_check.png";
  skipzoo::data::write_image(path, image);
  const auto tensor = skipzoo::data::image_to_tensor(skipzoo::data::read_image(path));
  std::remove(path.c_str());

  std::cout << "block " << y.sizes() << ", unet " << logits.sizes() << ", image " << tensor.sizes() << "\n";
  const bool ok = y.sizes() == torch::IntArrayRef({2, 32, 5, 5}) && logits.sizes() == torch::IntArrayRef({1, 3, 37, 53}) &&
                  tensor.sizes() == torch::IntArrayRef({3, 37, 53}) && tensor[0][0][0].item<float>() == 1.0f &&
                  std::abs(tensor[2][5][5].item<float>() - 0.2f) < 1e-6f;
  return ok ? 0 : 1;
}
