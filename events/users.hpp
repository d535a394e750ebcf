#pragma once
// Events of user streams ("user-<uuid>") and sign-in session streams ("session-<family>").
// No event carries a password, its hash or a token: token ids (jti) only.
#include "events/codec.hpp"
#include "events/types.hpp"

namespace beampipe::events {

struct user_created {
  static constexpr const char* kType = type::user_created;
  static constexpr int kVersion = 1;
  std::string uuid;
  std::string username;
  std::string email;
  std::string name;
  bool is_superuser = false;
};
BOOST_DESCRIBE_STRUCT(user_created, (), (uuid, username, email, name, is_superuser))

struct user_password_changed {
  static constexpr const char* kType = type::user_password_changed;
  static constexpr int kVersion = 1;
  std::string uuid;
};
BOOST_DESCRIBE_STRUCT(user_password_changed, (), (uuid))

struct user_disabled {
  static constexpr const char* kType = type::user_disabled;
  static constexpr int kVersion = 1;
  std::string uuid;
};
BOOST_DESCRIBE_STRUCT(user_disabled, (), (uuid))

struct session_started {
  static constexpr const char* kType = type::session_started;
  static constexpr int kVersion = 1;
  std::string family;
  std::string user_uuid;
  std::string username;
  std::string refresh_jti;
  std::string refresh_expires_at;
};
BOOST_DESCRIBE_STRUCT(session_started, (),
                      (family, user_uuid, username, refresh_jti, refresh_expires_at))

struct session_refreshed {
  static constexpr const char* kType = type::session_refreshed;
  static constexpr int kVersion = 1;
  std::string family;
  std::string from_jti;
  std::string refresh_jti;
  std::string refresh_expires_at;
};
BOOST_DESCRIBE_STRUCT(session_refreshed, (), (family, from_jti, refresh_jti, refresh_expires_at))

struct session_revoked {
  static constexpr const char* kType = type::session_revoked;
  static constexpr int kVersion = 1;
  std::string family;
  std::string reason;        // signed_out | refresh_token_reuse | user_disabled | ...
  omitted<std::string> jti;  // the reused token, for refresh_token_reuse
};
BOOST_DESCRIBE_STRUCT(session_revoked, (), (family, reason, jti))

}  // namespace beampipe::events
