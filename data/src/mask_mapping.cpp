// Raw mask values <-> class ids, including the scan that guesses a mapping from the masks.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "skipzoo/data/error.h"
#include "skipzoo/data/mask.h"

namespace skipzoo::data {

namespace {
uint32_t pack(const Rgb& c) { return (uint32_t(c[0]) << 16) | (uint32_t(c[1]) << 8) | c[2]; }
Rgb unpack(uint32_t key) { return {uint8_t(key >> 16), uint8_t(key >> 8), uint8_t(key)}; }

std::string hex(uint32_t key) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%06x", key & 0xFFFFFF);
  return buf;
}

std::string key_string(MaskMapping::Kind kind, uint32_t key) {
  return kind == MaskMapping::Kind::Colors ? hex(key) : std::to_string(key);
}

uint32_t parse_hex(const std::string& text) {
  if (text.size() != 7 || text[0] != '#' || text.find_first_not_of("0123456789abcdefABCDEF", 1) != std::string::npos)
    throw std::invalid_argument("invalid colour '" + text + "' (expected #rrggbb)");
  return static_cast<uint32_t>(std::stoul(text.substr(1), nullptr, 16));
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, sep);) parts.push_back(part);
  return parts;
}

// The class count after "voc:" or "identity:"; a clear error for anything but a plain number.
int64_t parse_count(const std::string& text, const std::string& spec) {
  const bool digits = !text.empty() && text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits) {
    throw std::invalid_argument("invalid class count '" + text + "' in '" + spec + "' (expected a number of classes, e.g. " +
                                spec.substr(0, spec.find(':') + 1) + "21)");
  }
  return std::stoll(text);
}

void check_keys(const std::vector<uint32_t>& keys) {
  if (keys.empty()) throw std::invalid_argument("a mask mapping needs at least one class");
  if (static_cast<int64_t>(keys.size()) > kMaxClasses - 1)
    throw std::invalid_argument("a mask mapping supports at most " + std::to_string(kMaxClasses - 1) + " classes");
  auto sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw std::invalid_argument("a mask mapping lists the same value twice");
}
}  // namespace

MaskMapping::MaskMapping() : keys_{0, 1}, has_ignore_(true), ignore_key_(255) {}

MaskMapping MaskMapping::values(std::vector<int> raw_values, int ignore_value) {
  MaskMapping m;
  m.kind_ = Kind::Values;
  m.keys_.clear();
  for (int v : raw_values) {
    if (v < 0 || v > 65535) throw std::invalid_argument("mask value " + std::to_string(v) + " is outside 0..65535");
    m.keys_.push_back(static_cast<uint32_t>(v));
  }
  check_keys(m.keys_);
  const bool listed = std::find(m.keys_.begin(), m.keys_.end(), uint32_t(ignore_value)) != m.keys_.end();
  m.has_ignore_ = ignore_value >= 0 && ignore_value <= 65535 && !listed;
  m.ignore_key_ = m.has_ignore_ ? static_cast<uint32_t>(ignore_value) : 0;
  return m;
}

MaskMapping MaskMapping::identity(int64_t classes, int ignore_value) {
  if (classes < 1 || classes >= kMaxClasses) throw std::invalid_argument("identity mapping needs 1..254 classes");
  std::vector<int> v(static_cast<size_t>(classes));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int>(i);
  return values(v, ignore_value);
}

MaskMapping MaskMapping::colors(std::vector<Rgb> colors, c10::optional<Rgb> ignore_color) {
  MaskMapping m;
  m.kind_ = Kind::Colors;
  m.keys_.clear();
  for (const auto& c : colors) m.keys_.push_back(pack(c));
  check_keys(m.keys_);
  m.has_ignore_ = ignore_color.has_value() &&
                  std::find(m.keys_.begin(), m.keys_.end(), pack(*ignore_color)) == m.keys_.end();
  m.ignore_key_ = m.has_ignore_ ? pack(*ignore_color) : 0;
  return m;
}

MaskMapping MaskMapping::voc(int64_t classes) {
  // VOC's palette: the bits of the index are spread over R, G and B from the top bit down.
  const auto colour = [](int index) {
    Rgb c{0, 0, 0};
    for (int bit = 7; bit >= 0; --bit, index >>= 3)
      for (int ch = 0; ch < 3; ++ch) c[ch] |= static_cast<uint8_t>(((index >> ch) & 1) << bit);
    return c;
  };
  if (classes < 1 || classes > 254) throw std::invalid_argument("voc mapping needs 1..254 classes");
  std::vector<Rgb> table;
  for (int i = 0; i < classes; ++i) table.push_back(colour(i));
  return colors(table, colour(255));
}

MaskMapping MaskMapping::parse(const std::string& spec, int ignore_value) {
  if (spec == "voc") return voc();
  if (spec.rfind("voc:", 0) == 0) return voc(parse_count(spec.substr(4), spec));
  if (spec.rfind("identity:", 0) == 0) return identity(parse_count(spec.substr(9), spec), ignore_value);
  const auto parts = split(spec, ',');
  if (parts.empty()) throw std::invalid_argument("empty mask mapping");
  if (!parts[0].empty() && parts[0][0] == '#') {
    std::vector<Rgb> table;
    for (const auto& p : parts) table.push_back(unpack(parse_hex(p)));
    return colors(table);
  }
  std::vector<int> vals;
  for (const auto& p : parts) {
    size_t used = 0;
    int v = -1;
    try {
      v = std::stoi(p, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != p.size() || p.empty())
      throw std::invalid_argument("invalid mask value '" + p + "' in '" + spec + "' (expected e.g. 0,255)");
    vals.push_back(v);
  }
  return values(vals, ignore_value);
}

MaskMapping MaskMapping::from_scan(const std::map<uint32_t, int64_t>& counts, bool colour, int64_t max_classes,
                                   int ignore_value, const std::string& where) {
  std::vector<uint32_t> keys;
  for (const auto& kv : counts) keys.push_back(kv.first);
  const bool drop_ignore = !colour && ignore_value >= 0 && counts.count(static_cast<uint32_t>(ignore_value)) &&
                           keys.size() >= 3;
  if (drop_ignore) keys.erase(std::find(keys.begin(), keys.end(), static_cast<uint32_t>(ignore_value)));
  if (keys.empty()) throw DataError(where + ": the masks contain no class values");
  const int64_t limit = std::min<int64_t>(max_classes, kMaxClasses - 1);
  if (static_cast<int64_t>(keys.size()) > limit) {
    std::ostringstream msg;
    msg << where << ": the masks have " << keys.size() << " distinct " << (colour ? "colours" : "values")
        << ", more than the limit of " << limit << " classes. Masks must store one value per class: lossy"
        << " JPEG masks and anti-aliased edges create many values. Save masks as PNG, or list the class"
        << " values explicitly (e.g. --mask-values 0,255).";
    throw DataError(msg.str());
  }
  MaskMapping m;
  m.kind_ = colour ? Kind::Colors : Kind::Values;
  m.keys_ = keys;
  m.has_ignore_ = drop_ignore;
  m.ignore_key_ = drop_ignore ? static_cast<uint32_t>(ignore_value) : 0;
  return m;
}

std::string MaskMapping::key_text(uint32_t key) const { return key_string(kind_, key); }

std::string MaskMapping::describe() const {
  std::ostringstream out;
  out << (kind_ == Kind::Colors ? "colours " : "values ");
  for (size_t i = 0; i < keys_.size(); ++i) out << (i ? "," : "") << key_string(kind_, keys_[i]);
  out << " -> classes 0.." << keys_.size() - 1;
  if (has_ignore_) out << " (ignore " << key_string(kind_, ignore_key_) << ")";
  return out.str();
}

std::string MaskMapping::to_json() const {
  nlohmann::json j;
  j["kind"] = kind_ == Kind::Colors ? "colors" : "values";
  nlohmann::json list = nlohmann::json::array();
  for (uint32_t k : keys_) list.push_back(kind_ == Kind::Colors ? nlohmann::json(hex(k)) : nlohmann::json(k));
  j[kind_ == Kind::Colors ? "colors" : "values"] = list;
  j["ignore"] = has_ignore_ ? (kind_ == Kind::Colors ? nlohmann::json(hex(ignore_key_)) : nlohmann::json(ignore_key_))
                            : nlohmann::json(nullptr);
  return j.dump();
}

MaskMapping MaskMapping::from_json(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    const std::string kind = j.at("kind");
    if (kind == "values") {
      const int ignore = j.at("ignore").is_null() ? -1 : j.at("ignore").get<int>();
      return values(j.at("values").get<std::vector<int>>(), ignore);
    }
    if (kind == "colors") {
      std::vector<Rgb> table;
      for (const auto& c : j.at("colors")) table.push_back(unpack(parse_hex(c.get<std::string>())));
      c10::optional<Rgb> ignore;
      if (!j.at("ignore").is_null()) ignore = unpack(parse_hex(j.at("ignore").get<std::string>()));
      return colors(table, ignore);
    }
    throw std::invalid_argument("unknown mask mapping kind '" + kind + "'");
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("invalid mask mapping JSON: ") + e.what());
  }
}

bool MaskMapping::operator==(const MaskMapping& o) const {
  return kind_ == o.kind_ && keys_ == o.keys_ && has_ignore_ == o.has_ignore_ && ignore_key_ == o.ignore_key_;
}

}  // namespace skipzoo::data
