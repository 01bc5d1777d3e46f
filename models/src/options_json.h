#pragma once
// Reads a model's JSON options, remembering every resolved value and rejecting unknown keys.
// Private to skipzoo::models: the public API passes options as JSON text.
#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>
#include <string>

namespace skipzoo::models::detail {

class OptionReader {
 public:
  OptionReader(const std::string& model, const std::string& text) : model_(model) {
    try {
      given_ = nlohmann::json::parse(text.empty() ? "{}" : text);
    } catch (const nlohmann::json::parse_error& e) {
      throw std::invalid_argument("model '" + model + "': options are not valid JSON: " + e.what());
    }
    if (!given_.is_object()) throw std::invalid_argument("model '" + model + "': options must be a JSON object");
    resolved_ = nlohmann::json::object();
  }

  template <typename T>
  T get(const std::string& key, const T& fallback) {
    known_.insert(key);
    T value = fallback;
    if (given_.contains(key)) {
      try {
        value = given_.at(key).get<T>();
      } catch (const nlohmann::json::exception&) {
        throw std::invalid_argument("model '" + model_ + "': option '" + key + "' has the wrong type (" +
                                    given_.at(key).dump() + ", default " + nlohmann::json(fallback).dump() + ")");
      }
    }
    resolved_[key] = value;
    return value;
  }

  bool has(const std::string& key) const { return given_.contains(key); }
  void set_resolved(const std::string& key, const nlohmann::json& value) {
    known_.insert(key);
    resolved_[key] = value;
  }

  // Call after every get(): unknown keys are an error that lists the known ones.
  std::string finish() const {
    for (const auto& item : given_.items()) {
      if (known_.count(item.key())) continue;
      std::string list;
      for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
      throw std::invalid_argument("model '" + model_ + "': unknown option '" + item.key() + "' (known: " +
                                  (list.empty() ? "none" : list) + ")");
    }
    return resolved_.dump();
  }

 private:
  std::string model_;
  nlohmann::json given_, resolved_;
  std::set<std::string> known_;
};

}  // namespace skipzoo::models::detail
