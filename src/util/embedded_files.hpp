#pragma once
// Files the binary carries (cmake/embed_files.cmake), so it works wherever it is installed.
#include <string_view>
#include <vector>

namespace beampipe::util {

struct embedded_file {
  std::string_view path;   // relative to the folder they were embedded from
  std::string_view bytes;  // as they were in the source tree
};

// config/examples/: the demo project, its deployment profile and graph (`start --demo`).
const std::vector<embedded_file>& embedded_examples();

// The file at `path`, or nullptr.
const embedded_file* find_embedded(const std::vector<embedded_file>& files, std::string_view path);
// The bytes of config/examples/<path>; throws std::logic_error when the build did not embed it.
std::string_view embedded_example(std::string_view path);

}  // namespace beampipe::util
