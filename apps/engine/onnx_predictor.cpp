// An exported .onnx run through OpenCV DNN: the deploy path without LibTorch in the forward pass.
// Tensors cross to cv::Mat and back at the model's boundary only; tiling, normalisation and
// outputs stay the shared predict/eval code, driven by the file's skipzoo.json alone.
#include <skipzoo/models/onnx.h>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "engine/predictor.h"

namespace skipzoo::app {

Predictor load_onnx_predictor(const std::string& path, const torch::Device& device) {
  if (!device.is_cpu()) throw std::runtime_error("'" + path + "': ONNX models run on the CPU (OpenCV DNN)");
  const auto file = models::inspect_onnx(path);  // missing, truncated or unchecked files fail here, named
  const auto entry = file.metadata.find(models::kOnnxMetadataKey);
  if (entry == file.metadata.end()) {
    throw std::runtime_error("'" + path + "' is ONNX but not a skipzoo export (no skipzoo.json in its metadata): " +
                             "skipzoo cannot tell its task, classes or input normalisation");
  }
  Predictor p;
  p.path = path;
  p.kind = "onnx";
  try {
    p.meta = nlohmann::json::parse(entry->second);
    p.task = p.meta.at("task").get<std::string>();
    p.info = data::DeployInfo::from_json(entry->second);
  } catch (const std::exception& e) {
    throw std::runtime_error("'" + path + "': its skipzoo.json cannot be read: " + e.what());
  }
  const auto runtimes = p.meta.value("onnx", nlohmann::json::object()).value("runtimes", std::string());
  if (runtimes.find("opencv") == std::string::npos) {
    throw std::runtime_error("'" + path + "' was exported with --onnx-shapes " +
                             p.meta["onnx"].value("shapes", std::string("?")) +
                             ", which needs ONNX Runtime; export it again with --onnx-shapes multiple for OpenCV DNN");
  }
  auto net = std::make_shared<cv::dnn::Net>();
  try {
    *net = cv::dnn::readNetFromONNX(path);
  } catch (const cv::Exception& e) {
    throw std::runtime_error("'" + path + "': OpenCV DNN cannot read it: " + e.err);
  }
  cv::setNumThreads(at::get_num_threads());  // --threads, as for LibTorch
  p.device = device;
  p.forward = [net, path](const torch::Tensor& x) {
    const auto in = x.to(torch::kFloat32).contiguous();
    const std::vector<int> dims(in.sizes().begin(), in.sizes().end());
    // setInput copies the blob, so `in` may go when this returns.
    net->setInput(cv::Mat(static_cast<int>(dims.size()), dims.data(), CV_32F, const_cast<float*>(in.data_ptr<float>())));
    cv::Mat out;
    try {
      out = net->forward();
    } catch (const cv::Exception& e) {
      throw std::runtime_error("'" + path + "': OpenCV DNN failed on input " + c10::str(in.sizes()) + ": " + e.err);
    }
    std::vector<int64_t> shape(out.size.p, out.size.p + out.dims);
    return torch::from_blob(out.ptr<float>(), shape, torch::kFloat32).clone();
  };
  p.set_layout = [](bool) {};  // OpenCV DNN chooses its own layout
  return p;
}

}  // namespace skipzoo::app
