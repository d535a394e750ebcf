#include "util/redact.hpp"

namespace beampipe::util {

std::string redact_url(std::string_view url) {
  auto cut = url.find_first_of("?#");
  std::string out(url.substr(0, cut));
  if (auto scheme = out.find("://"); scheme != std::string::npos) {
    auto host = scheme + 3;
    auto path = out.find('/', host);
    auto at = out.rfind('@', path == std::string::npos ? std::string::npos : path);
    if (at != std::string::npos && at >= host) out.erase(host, at + 1 - host);
  }
  if (cut != std::string_view::npos) out += "?…";
  return out;
}

}  // namespace beampipe::util
