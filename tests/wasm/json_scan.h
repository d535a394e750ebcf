/* Just enough JSON scanning for the test hooks, without a C library (freestanding wasm32).
   The host sends compact JSON (no whitespace between tokens). */
#pragma once

typedef unsigned long size_t;

static unsigned char heap[4 << 20];
static size_t heap_top;

__attribute__((export_name("alloc"))) unsigned char* alloc(int n) {
  unsigned char* p = heap + heap_top;
  heap_top += (size_t)n;
  return p;
}

static long long packed(const unsigned char* p, size_t n) {
  return ((long long)n << 32) | (long long)(unsigned long)p;
}

/* Index just past the JSON value starting at s[i] (strings with escapes, nested values). */
static size_t skip_value(const unsigned char* s, size_t n, size_t i) {
  int depth = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c == '"') {
      for (++i; i < n && s[i] != '"'; ++i)
        if (s[i] == '\\') ++i;
      ++i;
    } else if (c == '{' || c == '[') {
      ++depth;
      ++i;
    } else if (c == '}' || c == ']') {
      --depth;
      ++i;
    } else {
      ++i;
      if (depth == 0 && (i >= n || s[i] == ',' || s[i] == '}' || s[i] == ']')) return i;
      continue;
    }
    if (depth == 0) return i;
  }
  return i;
}

/* Where the value of top-level key `key` starts, or n. */
static size_t find_key(const unsigned char* s, size_t n, const char* key) {
  size_t klen = 0;
  while (key[klen]) ++klen;
  size_t i = 1; /* after '{' */
  while (i < n && s[i] == '"') {
    size_t start = i + 1, end = skip_value(s, n, i) - 1;
    int same = end - start == klen;
    for (size_t k = 0; same && k < klen; ++k) same = s[start + k] == (unsigned char)key[k];
    i = end + 2; /* past '"' and ':' */
    if (same) return i;
    i = skip_value(s, n, i);
    if (i < n && s[i] == ',') ++i;
  }
  return n;
}

__attribute__((unused)) static int contains(const unsigned char* s, size_t from, size_t to, const char* needle) {
  size_t m = 0;
  while (needle[m]) ++m;
  for (size_t i = from; i + m <= to; ++i) {
    size_t k = 0;
    while (k < m && s[i + k] == (unsigned char)needle[k]) ++k;
    if (k == m) return 1;
  }
  return 0;
}

static unsigned char* out_buf;
static size_t out_len;
static void out_begin(void) {
  out_buf = heap + heap_top;
  out_len = 0;
}
static void out_bytes(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) out_buf[out_len++] = p[i];
  heap_top += n;
}
static void out_text(const char* t) {
  size_t n = 0;
  while (t[n]) ++n;
  out_bytes((const unsigned char*)t, n);
}
