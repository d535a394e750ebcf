#include "util/time.hpp"

#include <cstdio>
#include <ctime>

namespace beampipe::util {

std::string to_rfc3339(clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  long frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string now_rfc3339() { return to_rfc3339(clock::now()); }

std::string to_iso_millis(clock::time_point t) {
  auto s = to_rfc3339(t);  // ...SS.uuuuuuZ
  return s.substr(0, 23) + "Z";
}

std::optional<clock::time_point> parse_rfc3339(std::string_view s) {
  int y, mo, d, h, mi, se;
  if (s.size() < 19 || std::sscanf(std::string(s.substr(0, 19)).c_str(),
                                   "%4d-%2d-%2d%*c%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &se) != 6)
    return std::nullopt;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  // A time the clock can hold (its nanoseconds end in 2262) and a calendar that exists; past
  // these, the arithmetic below would overflow into a time in the past.
  if (y < 1900 || y > 2200 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
      mi > 59 || se < 0 || se > 60)
    return std::nullopt;
  size_t i = 19;
  int64_t micros = 0;
  if (i < s.size() && s[i] == '.') {
    int64_t scale = 100000;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i) {
      micros += (s[i] - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    auto rest = std::string(s.substr(i + 1));
    if (std::sscanf(rest.c_str(), "%2d:%2d", &oh, &om) < 1) return std::nullopt;
    offset_s = sign * (oh * 3600 + om * 60);
  } else if (i < s.size() && s[i] != 'Z' && s[i] != 'z') {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  auto secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  return clock::time_point(std::chrono::microseconds(secs * 1000000 + micros));
}

}  // namespace beampipe::util
