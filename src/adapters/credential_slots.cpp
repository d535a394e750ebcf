#include "adapters/credential_slots.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

namespace beampipe::adapters {
namespace fs = std::filesystem;

namespace {

// lstat, not stat: a symlink in a slot is reported as what it is, never followed.
bool regular_file(const fs::path& p, struct stat& st) {
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

credential_slot inspect(const fs::path& dir, const std::string& name) {
  credential_slot s;
  s.name = name;
  struct stat st {};
  auto secret = [&](const char* file, bool& present) {
    present = regular_file(dir / file, st);
    if (present && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) s.safe_permissions = false;
  };
  secret("private_key", s.private_key);
  secret("passphrase", s.passphrase);
  s.public_key = regular_file(dir / "private_key.pub", st);
  s.known_hosts = regular_file(dir / "known_hosts", st);
  return s;
}

}  // namespace

bool valid_slot_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::vector<credential_slot> list_credential_slots(const std::string& dir) {
  std::vector<credential_slot> out;
  if (dir.empty()) return out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    struct stat st {};
    if (!valid_slot_name(name) || ::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      continue;
    out.push_back(inspect(it->path(), name));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::optional<credential_slot> find_credential_slot(const std::string& dir,
                                                    const std::string& name) {
  if (dir.empty() || !valid_slot_name(name)) return std::nullopt;
  auto path = fs::path(dir) / name;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return inspect(path, name);
}

}  // namespace beampipe::adapters
