#include "engine/json_file.h"

#include <skipzoo/models/weights.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace skipzoo::app {

void write_text(const std::string& path, const std::string& bytes) {
  models::write_file_atomic(path, bytes);
}

void write_json(const std::string& path, const nlohmann::json& value) { write_text(path, value.dump(2) + "\n"); }

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("'" + path + "' is not valid JSON: " + e.what());
  }
}

}  // namespace skipzoo::app
