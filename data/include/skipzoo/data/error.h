#pragma once
// Every problem with the user's data (files, folders, masks) is a DataError whose message names
// the file and the reason, so apps can print it as is and exit non-zero.
#include <stdexcept>
#include <string>

namespace skipzoo::data {

class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "path: reason"
inline DataError data_error(const std::string& path, const std::string& reason) {
  return DataError(path + ": " + reason);
}

}  // namespace skipzoo::data
