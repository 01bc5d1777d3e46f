// skipzoo::models in LibTorch code that has no OpenCV: a ResNet from the registry.
#include <skipzoo/models.h>
#include <skipzoo/version.h>

#include <iostream>

int main() {
  auto net = skipzoo::models::create_model({"resnet20", 10, 3, "{}"}, 0);
  net.module().eval();
  const auto logits = net.forward(torch::randn({2, 3, 32, 32}));
  std::cout << "skipzoo " << SKIPZOO_VERSION_STRING << ": resnet20 " << logits.sizes() << "\n";
  return logits.sizes() == torch::IntArrayRef({2, 10}) ? 0 : 1;
}
