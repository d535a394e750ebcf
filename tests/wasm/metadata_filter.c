/* The prepare_metadata hook: keeps the declarative rows that contain "keep":true. */
#include "json_scan.h"

__attribute__((export_name("prepare_metadata"))) long long prepare_metadata(
    const unsigned char* in, int len) {
  size_t n = (size_t)len;
  size_t at = find_key(in, n, "declarative_output");
  if (at >= n || in[at] != '[') return 0;
  size_t end = skip_value(in, n, at);
  out_begin();
  out_text("[");
  int first = 1;
  for (size_t i = at + 1; i < end - 1;) {
    size_t next = skip_value(in, n, i);
    if (contains(in, i, next, "\"keep\":true")) {
      if (!first) out_text(",");
      out_bytes(in + i, next - i);
      first = 0;
    }
    i = next;
    if (i < end && in[i] == ',') ++i;
  }
  out_text("]");
  return packed(out_buf, out_len);
}
