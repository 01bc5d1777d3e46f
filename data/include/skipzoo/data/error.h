#pragma once
/// @file
/// Every problem with the user's data (files, folders, masks) is a DataError whose message names
/// the file and the reason, so apps can print it as is and exit non-zero.
#include <stdexcept>
#include <string>

namespace skipzoo::data {

/// A problem with the user's data; what() is "path: reason" (or lists several problems).
class DataError : public std::runtime_error {
 public:
  /// Takes the message, as std::runtime_error does.
  using std::runtime_error::runtime_error;
};

/// DataError("path: reason").
inline DataError data_error(const std::string& path, const std::string& reason) {
  return DataError(path + ": " + reason);
}

}  // namespace skipzoo::data
