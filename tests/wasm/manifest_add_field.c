/* The manifest hook: the declarative manifest with one more field, "hook_added": true. */
#include "json_scan.h"

__attribute__((export_name("manifest"))) long long manifest(const unsigned char* in, int len) {
  size_t n = (size_t)len;
  size_t at = find_key(in, n, "declarative_output");
  if (at >= n || in[at] != '{') return 0; /* an empty output: the host reports it */
  size_t end = skip_value(in, n, at);
  out_begin();
  out_text("{\"hook_added\":true");
  if (end - at > 2) out_text(",");
  out_bytes(in + at + 1, end - at - 1); /* the members and the closing brace */
  return packed(out_buf, out_len);
}
