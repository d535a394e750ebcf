#include "cli/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <string>

#include "util/log_context.hpp"

namespace beampipe::cli {
namespace {

// %* → the message escaped as a JSON string body, so JSON lines stay valid whatever is logged.
class json_message_flag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            dest.append(std::string_view(buf));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<json_message_flag>();
  }
};

// %C → ,"correlation_id":"..." (JSON lines) or " [id]" (human lines) when the thread works
// for a correlation id, nothing otherwise.
class correlation_flag : public spdlog::custom_flag_formatter {
 public:
  explicit correlation_flag(bool json) : json_(json) {}
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const auto& id = util::current_correlation_id();
    if (id.empty()) return;
    dest.append(std::string_view(json_ ? ",\"correlation_id\":\"" : " ["));
    for (char c : id)  // API correlation ids are visible ASCII; keep JSON valid regardless
      if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) dest.push_back(c);
    dest.append(std::string_view(json_ ? "\"" : "]"));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<correlation_flag>(json_);
  }

 private:
  bool json_;
};

}  // namespace

void setup_logging(const app::settings& s) {
  auto logger = spdlog::stderr_color_mt("beampipe");
  spdlog::set_default_logger(logger);
  if (s.log_json) {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<json_message_flag>('*');
    f->add_flag<correlation_flag>('C', true).set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","thread":%t,"msg":"%*"%C})");
    spdlog::set_formatter(std::move(f));
  } else {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<correlation_flag>('C', false).set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$%C %v");
    spdlog::set_formatter(std::move(f));
  }
  spdlog::set_level(spdlog::level::from_str(s.log_level));
}

}  // namespace beampipe::cli
