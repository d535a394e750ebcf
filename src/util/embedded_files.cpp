#include "util/embedded_files.hpp"

#include <stdexcept>
#include <string>

namespace beampipe::util {

const embedded_file* find_embedded(const std::vector<embedded_file>& files, std::string_view path) {
  for (const auto& f : files)
    if (f.path == path) return &f;
  return nullptr;
}

std::string_view embedded_example(std::string_view path) {
  auto* f = find_embedded(embedded_examples(), path);
  if (!f) throw std::logic_error("config/examples/" + std::string(path) + " is not embedded");
  return f->bytes;
}

}  // namespace beampipe::util
