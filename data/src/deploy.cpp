#include "skipzoo/data/deploy.h"

#include <nlohmann/json.hpp>

#include <set>
#include <stdexcept>

namespace skipzoo::data {

namespace {

using json = nlohmann::json;

constexpr int64_t kMinDefaultTile = 512;

[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw std::invalid_argument("deployment metadata: '" + key + "' " + why);
}

// The keys the models library writes into skipzoo.json itself (models::export_metadata).
const std::set<std::string>& export_keys() {
  static const std::set<std::string> keys = {"format", "format_version", "skipzoo_version", "torch_version",
                                             "model",  "task",           "optimized"};
  return keys;
}

bool positive_int(const json& v) { return v.is_number_integer() && v.get<int64_t>() > 0; }

Extent extent_from(const json& v, const std::string& key) {
  if (positive_int(v)) return {v.get<int64_t>(), v.get<int64_t>()};
  if (v.is_array() && v.size() == 2 && positive_int(v[0]) && positive_int(v[1])) {
    return {v[0].get<int64_t>(), v[1].get<int64_t>()};
  }
  bad(key, "must be a positive integer or [height, width], got " + v.dump());
}

json extent_json(const Extent& e) { return e.height == e.width ? json(e.height) : json::array({e.height, e.width}); }

std::vector<float> numbers_from(const json& v, const std::string& key) {
  if (!v.is_array()) bad(key, "must be a list of numbers, got " + v.dump());
  std::vector<float> out;
  for (const auto& x : v) {
    if (!x.is_number()) bad(key, "must be a list of numbers, got " + v.dump());
    out.push_back(x.get<float>());
  }
  return out;
}

}  // namespace

int64_t default_tile(int64_t patch) { return std::max(patch, kMinDefaultTile); }

std::vector<std::string> DeployInfo::names(int64_t classes) const {
  if (!class_names.empty()) return class_names;
  std::vector<std::string> out;
  for (int64_t c = 0; c < classes; ++c) out.push_back("class_" + std::to_string(c));
  return out;
}

int64_t DeployInfo::tile_side() const { return tile.set() ? tile.side() : default_tile(patch.side()); }

MaskMapping DeployInfo::mapping(int64_t classes) const {
  return mask_mapping ? *mask_mapping : MaskMapping::identity(classes);
}

EvalTransform DeployInfo::eval_transform() const {
  if (eval_view) return *eval_view;
  EvalTransform t;
  t.view = EvalView::Whole;
  t.crop = patch.set() ? patch.side() : 224;
  t.resize = t.crop * 8 / 7;
  return t;
}

void DeployInfo::validate(int64_t classes, int64_t in_channels) const {
  if (!class_names.empty() && classes > 0 && static_cast<int64_t>(class_names.size()) != classes) {
    bad("class_names", "has " + std::to_string(class_names.size()) + " names but the model has " +
                           std::to_string(classes) + " classes");
  }
  for (const auto& [values, key, positive] :
       {std::tuple{&normalization.mean, "normalization.mean", false}, std::tuple{&normalization.std, "normalization.std", true}}) {
    if (values->size() > 1 && in_channels > 0 && static_cast<int64_t>(values->size()) != in_channels) {
      bad(key, "must be a list of " + std::string(positive ? "positive " : "") +
                   "numbers: one per input channel (" + std::to_string(in_channels) + "), one for all, or none");
    }
    for (float v : *values) {
      if (positive && !(v > 0)) bad(key, "must be a list of positive numbers");
    }
  }
  if (normalization.mean.size() > 1 && normalization.std.size() > 1 && normalization.mean.size() != normalization.std.size()) {
    bad("normalization", "has " + std::to_string(normalization.mean.size()) + " means but " +
                             std::to_string(normalization.std.size()) + " stds");
  }
  if (!(overlap >= 0 && overlap < 1)) bad("overlap", "must be a number in [0, 1), got " + std::to_string(overlap));
  if (mask_mapping && classes > 0 && mask_mapping->num_classes() != classes) {
    bad("mask_mapping", "maps to " + std::to_string(mask_mapping->num_classes()) + " classes but the model has " +
                            std::to_string(classes));
  }
  if (eval_view && (eval_view->crop < 0 || eval_view->resize < 0)) bad("eval_crop", "must not be negative");
  if (channels != "auto" && channels != "gray" && channels != "rgb") {
    bad("channels", "must be auto, gray or rgb, got '" + channels + "'");
  }
}

std::string DeployInfo::to_json() const {
  json j = json::parse(extra_json.empty() ? "{}" : extra_json);
  if (!class_names.empty()) j["class_names"] = class_names;
  j["normalization"] = {{"mean", normalization.mean}, {"std", normalization.std}};
  if (patch.set()) j["patch"] = extent_json(patch);
  if (tile.set()) j["tile"] = extent_json(tile);
  j["overlap"] = overlap;
  if (mask_mapping) j["mask_mapping"] = json::parse(mask_mapping->to_json());
  if (eval_view) {
    j["eval_view"] = eval_view_name(eval_view->view);
    j["eval_crop"] = eval_view->crop;
    j["eval_resize"] = eval_view->resize;
  }
  j["channels"] = channels;
  return j.dump();
}

DeployInfo DeployInfo::from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text.empty() ? "{}" : text);
  } catch (const json::parse_error& e) {
    throw std::invalid_argument(std::string("deployment metadata is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw std::invalid_argument("deployment metadata must be a JSON object, got " + j.dump());
  DeployInfo info;
  json extra = json::object();
  for (const auto& [key, v] : j.items()) {
    if (export_keys().count(key)) continue;
    if (key == "class_names") {
      bool ok = v.is_array();
      for (const auto& x : v) ok = ok && x.is_string();
      if (!ok) bad(key, "must be a list of strings, got " + v.dump());
      info.class_names = v.get<std::vector<std::string>>();
    } else if (key == "normalization") {
      if (!v.is_object() || !v.contains("mean") || !v.contains("std")) {
        bad(key, "must be {\"mean\": [...], \"std\": [...]}, got " + v.dump());
      }
      info.normalization = {numbers_from(v["mean"], "normalization.mean"), numbers_from(v["std"], "normalization.std")};
    } else if (key == "patch" || key == "tile") {
      (key == "patch" ? info.patch : info.tile) = extent_from(v, key);
    } else if (key == "overlap") {
      if (!v.is_number()) bad(key, "must be a number in [0, 1), got " + v.dump());
      info.overlap = v.get<double>();
    } else if (key == "mask_mapping") {
      if (!v.is_object()) bad(key, "must be a JSON object, got " + v.dump());
      try {
        info.mask_mapping = MaskMapping::from_json(v.dump());
      } catch (const std::exception& e) {
        bad(key, std::string("is not a mask mapping: ") + e.what());
      }
    } else if (key == "eval_view" || key == "eval_crop" || key == "eval_resize") {
      if (!info.eval_view) info.eval_view = EvalTransform{};
      if (key == "eval_view") {
        if (!v.is_string()) bad(key, "must be center, resize or whole, got " + v.dump());
        try {
          info.eval_view->view = parse_eval_view(v.get<std::string>());
        } catch (const std::invalid_argument& e) {
          bad(key, e.what());
        }
      } else {
        if (!v.is_number_integer()) bad(key, "must be an integer (pixels), got " + v.dump());
        (key == "eval_crop" ? info.eval_view->crop : info.eval_view->resize) = v.get<int64_t>();
      }
    } else if (key == "channels") {
      if (!v.is_string()) bad(key, "must be auto, gray or rgb, got " + v.dump());
      info.channels = v.get<std::string>();
    } else {
      extra[key] = v;
    }
  }
  info.extra_json = extra.dump();
  return info;
}

}  // namespace skipzoo::data
