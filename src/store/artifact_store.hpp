#pragma once
// Content-addressed artifact bytes (manifest, source/patched/physical graph). Events name
// artifacts by SHA-256; the bytes are stored here first, so an event never points at
// content that is not there. Writes are idempotent: the same bytes give the same key.
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace beampipe::store {

struct artifact_blob {
  std::string sha256;
  std::string media_type;
  std::string content;
};

// Stores `content` under its SHA-256 (hex) and returns the digest.
std::string put_artifact(pqxx::connection& c, const std::string& media_type,
                         const std::string& content);
// Stores several in one transaction (one commit for a run's artifacts); returns their digests
// in order. `known_sha256`, when not empty, is the digest the caller already computed.
struct artifact_input {
  std::string media_type;
  const std::string* content = nullptr;
  std::string known_sha256;
  // Stored as a base blob plus JSON replacements (util/json_delta.hpp) when given: the base
  // is stored whole if it is not yet, and a base stored as a delta itself makes this blob
  // stored whole instead. The caller promises that the replacements rebuild `content`.
  struct as_delta {
    const std::string* base_content = nullptr;
    std::string base_sha256;
    std::string replacements;
  };
  std::optional<as_delta> delta{};
};
std::vector<std::string> put_artifacts(pqxx::connection& c,
                                       const std::vector<artifact_input>& blobs);
// The bytes stored under `sha256` (a delta rebuilt from its base and checked against the
// digest: a mismatch throws), or nullopt.
std::optional<artifact_blob> get_artifact(pqxx::connection& c, const std::string& sha256);
std::optional<artifact_blob> get_artifact(pqxx::transaction_base& tx, const std::string& sha256);

}  // namespace beampipe::store
