#include "bench/bench_flags.h"

#include "cli/model_flags.h"

#include <iostream>
#include <stdexcept>

namespace skipzoo::app {

std::vector<int64_t> bench_input_dims(const std::string& text) {
  const std::string form = "C,H,W, or F for vector models";
  auto dims = parse_input_dims(text, form);
  if (dims.size() != 1 && dims.size() != 3) throw UsageError("--input '" + text + "': expected " + form);
  return dims;
}

void run_and_print(bool json, const std::function<nlohmann::json()>& run,
                   const std::function<std::string(const nlohmann::json&)>& line) {
  nlohmann::json result;
  try {
    result = run();
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  std::cout << (json ? result.dump() : line(result)) << std::endl;
}

void add_device_flags(CLI::App* cmd, std::string& device, bool& amp) {
  cmd->add_option("--device", device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_flag("--amp", amp, "bfloat16 autocast (meant for CUDA; ~17x slower on AVX2 CPUs) (default: off)");
}

}  // namespace skipzoo::app
