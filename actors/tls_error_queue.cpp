// OpenSSL requires the calling thread's error queue to be empty before SSL_read, SSL_write,
// SSL_accept and SSL_connect, or SSL_get_error() misreads the outcome. CAF 0.17.6's TLS session
// (libcaf_openssl) never clears it: after one failed handshake (a stranger at the cluster port,
// a member with a certificate from another CA), the stale error makes the next "would block" on a
// member's healthy connection look fatal, and that connection silently stops carrying messages.
// These definitions interpose on the four calls for the whole process (the executable's symbols
// come first in the dynamic lookup), clear the queue and call OpenSSL's own. libpq and libcurl
// clear it themselves, so for them this changes nothing.
#include "actors/tls_error_queue.hpp"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {
template <class Fn>
Fn next_definition(const char* name) {
  auto fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
  if (!fn) std::abort();  // libssl is linked: cannot happen
  return fn;
}
}  // namespace

extern "C" {
int SSL_read(SSL* ssl, void* buf, int num) {
  static auto real = next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto real = next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static auto real = next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static auto real = next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}
}

namespace beampipe::actors {
bool tls_error_queue_cleared() { return true; }
}  // namespace beampipe::actors
