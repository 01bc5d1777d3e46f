#pragma once
// Text and JSON files: written atomically (temporary file + rename, so a crash never leaves half
// a file), read with errors naming the file.
#include <nlohmann/json.hpp>

#include <string>

namespace skipzoo::app {

// Writes `bytes` to `path` atomically; std::runtime_error naming the file and the reason.
void write_text(const std::string& path, const std::string& bytes);
// Writes JSON (pretty-printed) atomically.
void write_json(const std::string& path, const nlohmann::json& value);
nlohmann::json read_json(const std::string& path);  // clear error naming the file

}  // namespace skipzoo::app
