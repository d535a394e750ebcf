#include "util/embedded_files.hpp"

namespace beampipe::util {

const embedded_file* find_embedded(const std::vector<embedded_file>& files, std::string_view path) {
  for (const auto& f : files)
    if (f.path == path) return &f;
  return nullptr;
}

}  // namespace beampipe::util
