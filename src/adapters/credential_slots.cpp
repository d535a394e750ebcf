#include "adapters/credential_slots.hpp"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

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

namespace {

using key_ptr = std::unique_ptr<std::remove_pointer_t<ssh_key>, decltype(&ssh_key_free)>;

fs::path slot_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) throw std::invalid_argument("BEAMPIPE_SSH_CREDENTIALS_DIR is not set");
  if (!valid_slot_name(name))
    throw std::invalid_argument("a slot name is 1..64 of A-Z a-z 0-9 . _ - (no leading dot)");
  return fs::path(dir) / name;
}

std::string read_file(const fs::path& p, const char* what) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::invalid_argument(std::string("cannot read the ") + what + " " + p.string());
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

// The bytes go to a new file of the given mode (created so, never widened afterwards).
void write_file(const fs::path& p, const std::string& bytes, mode_t mode) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0)
    throw std::invalid_argument("cannot create " + p.string() + ": " + std::strerror(errno));
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) throw std::invalid_argument("cannot write " + p.string());
}

std::string trim_line(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

key_ptr open_private_key(const fs::path& file, const std::optional<std::string>& passphrase) {
  ssh_key key = nullptr;
  int rc = ssh_pki_import_privkey_file(file.c_str(), passphrase ? passphrase->c_str() : nullptr,
                                       nullptr, nullptr, &key);
  if (rc != SSH_OK || !key) return {nullptr, &ssh_key_free};
  return {key, &ssh_key_free};
}

std::string public_line(ssh_key priv) {
  ssh_key pub = nullptr;
  if (ssh_pki_export_privkey_to_pubkey(priv, &pub) != SSH_OK)
    throw std::invalid_argument("cannot derive the public key");
  key_ptr owned(pub, &ssh_key_free);
  char* b64 = nullptr;
  if (ssh_pki_export_pubkey_base64(pub, &b64) != SSH_OK)
    throw std::invalid_argument("cannot encode the public key");
  std::string line = std::string(ssh_key_type_to_char(ssh_key_type(pub))) + " " + b64;
  ssh_string_free_char(b64);
  return line + " beampipe\n";
}

// A fresh slot directory (0700) to fill; an existing one is removed first only with `force`.
fs::path fresh_slot(const std::string& dir, const std::string& name, bool force) {
  auto path = slot_path(dir, name);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(path, ec))) {
    if (!force) throw std::invalid_argument("slot " + name + " exists (--force replaces it)");
    fs::remove_all(path);
  }
  fs::create_directories(dir);
  if (::mkdir(path.c_str(), 0700) != 0)
    throw std::invalid_argument("cannot create " + path.string() + ": " + std::strerror(errno));
  return path;
}

}  // namespace

std::string init_credential_slot(const std::string& dir, const std::string& name, bool force,
                                 const std::optional<std::string>& known_hosts) {
  auto path = slot_path(dir, name);
  std::optional<std::string> known;
  if (known_hosts) known = read_file(*known_hosts, "known_hosts file");
  ssh_key key = nullptr;
  if (ssh_pki_generate(SSH_KEYTYPE_ED25519, 0, &key) != SSH_OK || !key)
    throw std::invalid_argument("cannot generate an ed25519 key");
  key_ptr owned(key, &ssh_key_free);
  char* b64 = nullptr;
  if (ssh_pki_export_privkey_base64(key, nullptr, nullptr, nullptr, &b64) != SSH_OK)
    throw std::invalid_argument("cannot encode the private key");
  std::string priv(b64);
  std::memset(b64, 0, std::strlen(b64));
  ssh_string_free_char(b64);
  auto pub = public_line(key);
  path = fresh_slot(dir, name, force);
  write_file(path / "private_key", priv, 0600);
  std::fill(priv.begin(), priv.end(), '\0');
  write_file(path / "private_key.pub", pub, 0644);
  if (known) write_file(path / "known_hosts", *known, 0644);
  return pub;
}

void import_credential_slot(const std::string& dir, const std::string& name,
                            const slot_files& files, bool force) {
  slot_path(dir, name);
  std::optional<std::string> passphrase;
  if (files.passphrase_file)
    passphrase = trim_line(read_file(*files.passphrase_file, "passphrase file"));
  auto key = open_private_key(files.private_key, passphrase);
  if (!key)
    throw std::invalid_argument("the private key " + files.private_key +
                                " does not open (wrong passphrase or not a private key)");
  auto priv = read_file(files.private_key, "private key");
  auto pub = files.public_key ? read_file(*files.public_key, "public key") : public_line(key.get());
  std::optional<std::string> known;
  if (files.known_hosts) known = read_file(*files.known_hosts, "known_hosts file");
  auto path = fresh_slot(dir, name, force);
  write_file(path / "private_key", priv, 0600);
  std::fill(priv.begin(), priv.end(), '\0');
  write_file(path / "private_key.pub", pub, 0644);
  if (passphrase) write_file(path / "passphrase", *passphrase + "\n", 0600);
  if (known) write_file(path / "known_hosts", *known, 0644);
}

std::vector<std::string> check_credential_slot(const std::string& dir, const std::string& name) {
  auto path = slot_path(dir, name);
  auto slot = find_credential_slot(dir, name);
  if (!slot) return {"no slot " + name + " under " + dir};
  std::vector<std::string> problems;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    problems.push_back("the slot directory is writable by others than its owner");
  if (!slot->private_key) problems.push_back("private_key is missing");
  if (!slot->known_hosts)
    problems.push_back("known_hosts is missing: a connection will refuse the login node");
  if (!slot->safe_permissions)
    problems.push_back("private_key or passphrase is readable or writable by others (chmod 600)");
  if (!slot->private_key) return problems;
  std::optional<std::string> passphrase;
  if (slot->passphrase) passphrase = trim_line(read_file(path / "passphrase", "passphrase file"));
  auto key = open_private_key(path / "private_key", passphrase);
  if (!key) {
    problems.push_back(slot->passphrase ? "private_key does not open with the slot's passphrase"
                                        : "private_key does not open (it needs a passphrase, or "
                                          "it is not a private key)");
    return problems;
  }
  if (slot->public_key) {
    ssh_key pub = nullptr;
    if (ssh_pki_import_pubkey_file((path / "private_key.pub").c_str(), &pub) != SSH_OK || !pub) {
      problems.push_back("private_key.pub is not a public key");
    } else {
      key_ptr owned(pub, &ssh_key_free);
      if (ssh_key_cmp(key.get(), pub, SSH_KEY_CMP_PUBLIC) != 0)
        problems.push_back("private_key.pub is not the public half of private_key");
    }
  }
  return problems;
}

bool remove_credential_slot(const std::string& dir, const std::string& name) {
  auto path = slot_path(dir, name);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) return false;
  fs::remove_all(path);
  return true;
}

namespace {

// The "type base64" part of a public key line, and the line itself; refuses anything but one
// printable line (it goes into a remote file).
std::pair<std::string, std::string> public_key_line(const fs::path& slot) {
  std::string line;
  if (fs::exists(slot / "private_key.pub")) {
    line = trim_line(read_file(slot / "private_key.pub", "public key"));
  } else {
    std::optional<std::string> passphrase;
    if (fs::exists(slot / "passphrase"))
      passphrase = trim_line(read_file(slot / "passphrase", "passphrase file"));
    auto key = open_private_key(slot / "private_key", passphrase);
    if (!key) throw std::invalid_argument("private_key does not open");
    line = trim_line(public_line(key.get()));
  }
  bool printable =
      !line.empty() && line.size() < 16 * 1024 &&
      std::all_of(line.begin(), line.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  auto first = line.find(' ');
  if (!printable || first == std::string::npos)
    throw std::invalid_argument("private_key.pub is not one public key line");
  auto second = line.find(' ', first + 1);
  return {line.substr(0, second), line};
}

}  // namespace

copied_key copy_slot_public_key(const std::string& dir, const std::string& name, ssh_options via) {
  auto path = slot_path(dir, name);
  auto problems = check_credential_slot(dir, name);
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    throw std::invalid_argument("slot " + name + " cannot be used: " + all);
  }
  auto [blob, line] = public_key_line(path);
  via.known_hosts_file = (path / "known_hosts").string();
  via.strict_host_key = true;
  copied_key out;
  {
    ssh_session session(via);
    out.destination = session.describe();
    // The key lines come on stdin, so nothing of them is parsed by the remote shell. A key
    // already listed (under any comment) is not added again; a last line without its newline
    // is ended first.
    auto r = session.exec(
        "umask 077 && mkdir -p \"$HOME/.ssh\" && f=\"$HOME/.ssh/authorized_keys\" && touch \"$f\" "
        "&& IFS= read -r b && IFS= read -r k && if grep -qF -- \"$b\" \"$f\"; then echo present; "
        "else { if [ -s \"$f\" ] && [ -n \"$(tail -c 1 \"$f\")\" ]; then echo; fi; "
        "printf '%s\\n' \"$k\"; } >> \"$f\" && echo added; fi",
        blob + "\n" + line + "\n");
    auto said = trim_line(r.stdout_text);
    if (r.exit_status != 0 || (said != "added" && said != "present"))
      throw std::invalid_argument("the login node did not take the key: " +
                                  trim_line(r.stderr_text).substr(0, 300));
    out.added = said == "added";
  }
  // The proof: the slot's own key signs in.
  ssh_options own = via;
  own.private_key_file = (path / "private_key").string();
  own.passphrase_file.reset();
  if (fs::exists(path / "passphrase")) own.passphrase_file = (path / "passphrase").string();
  try {
    ssh_session session(own);
    auto r = session.exec("true");
    if (r.exit_status != 0) throw std::runtime_error("`true` did not succeed there");
  } catch (const std::exception& e) {
    throw std::invalid_argument(
        "the key is in authorized_keys but does not sign in (the login "
        "node's sshd may refuse the file's permissions): " +
        std::string(e.what()));
  }
  return out;
}

std::vector<slot_file_change> sync_credential_slots(const std::string& from, const std::string& to,
                                                    const std::vector<std::string>& names,
                                                    bool dry_run) {
  if (to.empty()) throw std::invalid_argument("--to DIR is required");
  std::error_code ec;
  if (fs::weakly_canonical(from, ec) == fs::weakly_canonical(to, ec))
    throw std::invalid_argument("the source and the destination are the same folder");
  std::vector<std::string> slots = names;
  if (slots.empty())
    for (const auto& s : list_credential_slots(from)) slots.push_back(s.name);
  // Every slot checked before anything is written: a broken slot is not spread.
  std::string problems;
  for (const auto& n : slots)
    for (const auto& p : check_credential_slot(from, n))
      problems += (problems.empty() ? "" : "; ") + n + ": " + p;
  if (!problems.empty()) throw std::invalid_argument("not synced, " + problems);
  static const std::pair<const char*, mode_t> kFiles[] = {{"private_key", 0600},
                                                          {"private_key.pub", 0644},
                                                          {"passphrase", 0600},
                                                          {"known_hosts", 0644}};
  std::vector<slot_file_change> out;
  if (!dry_run && !fs::exists(to)) {
    fs::create_directories(to);
    fs::permissions(to, fs::perms::owner_all, fs::perm_options::replace);
  }
  for (const auto& n : slots) {
    auto src = slot_path(from, n);
    auto dst = slot_path(to, n);
    struct stat st {};
    if (::lstat(dst.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        throw std::invalid_argument(dst.string() + " is not a folder (a link or a file)");
      if (!dry_run && (st.st_mode & 0777) != 0700) ::chmod(dst.c_str(), 0700);
    } else if (!dry_run && ::mkdir(dst.c_str(), 0700) != 0) {
      throw std::invalid_argument("cannot create " + dst.string() + ": " + std::strerror(errno));
    }
    for (const auto& [file, mode] : kFiles) {
      auto s_path = src / file, d_path = dst / file;
      bool there = ::lstat(d_path.c_str(), &st) == 0;
      bool same_mode = there && S_ISREG(st.st_mode) && (st.st_mode & 0777) == mode;
      if (!fs::exists(s_path)) {
        if (!there) continue;
        if (!dry_run) fs::remove(d_path);
        out.push_back({n, file, "removed"});
        continue;
      }
      auto bytes = read_file(s_path, file);
      if (same_mode && read_file(d_path, file) == bytes) {
        out.push_back({n, file, "unchanged"});
        continue;
      }
      if (!dry_run) {
        auto tmp = dst / (std::string(".") + file + ".sync");
        fs::remove(tmp);
        write_file(tmp, bytes, mode);
        ::chmod(tmp.c_str(), mode);  // exactly the mode, whatever the umask
        fs::rename(tmp, d_path);     // replaces a link itself, never what it points to
      }
      std::fill(bytes.begin(), bytes.end(), '\0');
      out.push_back({n, file, there ? "updated" : "added"});
    }
  }
  return out;
}

}  // namespace beampipe::adapters
