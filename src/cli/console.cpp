#include "cli/console.hpp"

#include <ncurses.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/http_client.hpp"
#include "cli/api_client.hpp"
#include "cli/run_diff_text.hpp"
#include "domain/alerting.hpp"

namespace beampipe::cli {
namespace json = boost::json;

namespace {

std::string text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_int64()) return std::to_string(v.as_int64());
  if (v.is_uint64()) return std::to_string(v.as_uint64());
  if (v.is_double()) return std::to_string(static_cast<int64_t>(v.as_double()));
  if (v.is_bool()) return v.as_bool() ? "yes" : "no";
  if (v.is_null()) return "-";
  return json::serialize(v);
}

std::string at(const json::value& row, std::initializer_list<const char*> path) {
  const json::value* v = &row;
  for (const char* k : path) {
    if (!v->is_object() || !v->as_object().contains(k)) return "-";
    v = &v->as_object().at(k);
  }
  return text(*v);
}

// One table of a view: its header and one line per row, and what a row's id is.
struct table {
  std::string header;
  std::vector<std::string> lines;
  std::vector<std::string> ids;   // one per line when the rows can be selected
  std::vector<json::value> rows;  // what Enter shows of a selected line
  void add(std::string id, std::string line, json::value row) {
    ids.push_back(std::move(id));
    lines.push_back(std::move(line));
    rows.push_back(std::move(row));
  }
};

std::string cell(const std::string& s, size_t width) {
  std::string out = s.substr(0, width);
  out.resize(width, ' ');
  return out + " ";
}

struct view {
  const char* name;
  std::function<table(api_client&)> load;
  const char* keys;  // the actions this view offers
};

// A list view: its columns (header, field path, width; the last one takes what is left) and
// which field names a row.
struct column {
  const char* header;
  std::initializer_list<const char*> path;
  size_t width;
  const char* suffix = "";
};
table listing(const json::array& rows, std::initializer_list<const char*> id,
              std::initializer_list<column> columns) {
  table t;
  for (const auto& c : columns) t.header += c.width ? cell(c.header, c.width) : c.header;
  for (const auto& r : rows) {
    std::string line;
    for (const auto& c : columns) {
      auto v = at(r, c.path) + c.suffix;
      line += c.width ? cell(v, c.width) : v;
    }
    t.add(at(r, id), std::move(line), r);
  }
  return t;
}

table overview(api_client& api) {
  auto o = api.call("GET", "/overview");
  table t;
  t.header = "Overview";
  auto line = [&](std::string l) { t.lines.push_back(std::move(l)); };
  line("sources      " + at(o, {"registered_sources"}) + " registered, " +
       at(o, {"pending_admissions"}) + " pending admission");
  std::string states;
  if (o.as_object().contains("sources_by_state"))
    for (const auto& [k, n] : o.at("sources_by_state").as_object())
      states += std::string(k) + " " + text(n) + "  ";
  line("  by state   " + states);
  line("executions   " + at(o, {"running_executions"}) + " running, " +
       at(o, {"failed_executions"}) + " failed");
  std::string statuses;
  if (o.as_object().contains("executions_by_status"))
    for (const auto& [k, n] : o.at("executions_by_status").as_object())
      statuses += std::string(k) + " " + text(n) + "  ";
  line("  by status  " + statuses);
  line("jobs         " + at(o, {"queue_depth"}) + " queued, " + at(o, {"jobs_running"}) +
       " running");
  line("workers      " + at(o, {"active_workers"}) + " taking work, " +
       at(o, {"draining_workers"}) + " drained, " + at(o, {"stale_workers"}) + " stale");
  line("scheduler    leader " + at(o, {"scheduler_leader"}));
  line("projections  lag " + at(o, {"projections", "lag"}) + ", head " +
       at(o, {"projections", "head"}) + ", dead letters " +
       at(o, {"projections", "dead_letters_total"}));
  line("alerts       " + at(o, {"recent_alerts"}) + " in the last 24 h");
  line("");
  line("recent failures");
  for (const auto& f : o.at("recent_failures").as_array())
    line("  " + at(f, {"failed_at"}) + "  " + at(f, {"execution_id"}) + "  " +
         at(f, {"last_error"}));
  return t;
}

table executions(api_client& api) {
  return listing(api.call("GET", "/executions?items_per_page=200").at("items").as_array(), {"uuid"},
                 {{"EXECUTION", {"uuid"}, 36},
                  {"MODULE", {"project_module"}, 16},
                  {"STATUS", {"status"}, 18},
                  {"PHASE", {"execution_phase"}, 12},
                  {"SUBMISSION", {"submission_state"}, 12},
                  {"CREATED", {"created_at"}, 0}});
}

table sources(api_client& api) {
  return listing(api.call("GET", "/sources?limit=500").as_array(), {"uuid"},
                 {{"SOURCE", {"source_identifier"}, 24},
                  {"MODULE", {"project_module"}, 16},
                  {"ENABLED", {"enabled"}, 7},
                  {"PENDING", {"workflow_run_pending"}, 7},
                  {"LAST CHECKED", {"last_checked_at"}, 33},
                  {"ERROR", {"last_discovery_error"}, 0}});
}

// The scheduler: who leads, and the runs on Slurm in flight.
table scheduler(api_client& api) {
  auto ready = api.call("GET", "/ready");
  auto jobs = api.call("GET", "/scheduler/jobs?items_per_page=200");
  auto t = listing(jobs.at("items").as_array(), {"execution_id"},
                   {{"EXECUTION", {"execution_id"}, 36},
                    {"JOB", {"scheduler_job_id"}, 10},
                    {"STATE", {"scheduler_state"}, 12},
                    {"REASON", {"scheduler_reason"}, 16},
                    {"SESSION DIR", {"remote_session_dir"}, 0}});
  t.header = "leader " + at(ready, {"scheduler", "leader"}) +
             "   Slurm runs in flight: " + at(jobs, {"total"}) + "   " + t.header;
  return t;
}

// The default profile's DALiuGE managers, asked now.
table daliuge(api_client& api) {
  auto seen = api.call("GET", "/daliuge/inspect");
  table t;
  t.header = "profile " + at(seen, {"profile"});
  for (const char* part : {"translator", "manager"})
    if (const auto* p = seen.as_object().if_contains(part))
      t.add(part,
            cell(part, 11) + cell(at(*p, {"reachable"}), 4) + at(*p, {"endpoint"}) + "  " +
                at(*p, {"detail"}),
            *p);
  return t;
}

table workers(api_client& api) {
  return listing(api.call("GET", "/workers?items_per_page=500").at("items").as_array(), {"id"},
                 {{"WORKER", {"id"}, 34},
                  {"STATUS", {"status"}, 9},
                  {"HEALTH", {"health"}, 9},
                  {"POOL", {"pool"}, 10},
                  {"LEASES", {"active_leases"}, 6},
                  {"BEAT", {"heartbeat_age_seconds"}, 8, "s"},
                  {"DRAIN REASON", {"drain_reason"}, 0}});
}

table jobs(api_client& api) {
  return listing(api.call("GET", "/jobs?limit=200").as_array(), {"id"},
                 {{"JOB", {"id"}, 36},
                  {"KIND", {"kind"}, 22},
                  {"STATUS", {"status"}, 11},
                  {"ATTEMPT", {"attempt"}, 7},
                  {"OWNER", {"lease_owner"}, 24},
                  {"SUBJECT", {"subject"}, 0}});
}

// The event log: the newest events of the store, newest first.
table events(api_client& api) {
  auto head = api.call("GET", "/overview").at("projections").at("head");
  int64_t last = head.is_int64() ? head.as_int64() : 0;
  auto feed = api.call(
      "GET", "/events?after=" + std::to_string(std::max<int64_t>(0, last - 200)) + "&limit=200");
  const auto& evs = feed.at("events").as_array();
  return listing(json::array(evs.rbegin(), evs.rend()), {"position"},
                 {{"POSITION", {"position"}, 9},
                  {"RECORDED", {"recorded_at"}, 27},
                  {"TYPE", {"type"}, 32},
                  {"STREAM", {"stream_id"}, 0}});
}

// The live feed (GET /events/stream, server-sent events) on its own thread: every event moves
// `seen`, and the console redraws soon after instead of waiting for its interval. A dropped
// stream is opened again with a new ticket after a pause; with an https API (no TLS here) the
// console keeps to its interval.
class live_feed {
 public:
  live_feed(api_client& api, int64_t after) : api_(api), seen_(after) {
    auto u = adapters::parse_url(api.url());
    if (u.scheme != "http") return;
    host_ = u.host;
    port_ = u.port;
    thread_ = std::thread([this] { run(); });
  }
  ~live_feed() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t seen() const { return seen_.load(); }
  bool connected() const { return connected_.load(); }

 private:
  void run() {
    while (!stop_) {
      try {
        follow();
      } catch (const std::exception&) {
      }
      connected_ = false;
      for (int i = 0; i < 20 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  void follow() {
    auto ticket = api_.call("POST", "/events/stream-tickets").at("ticket").as_string();
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (::getaddrinfo(host_.c_str(), port_.c_str(), &hints, &res) != 0 || !res) return;
    int fd = ::socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    bool ok = fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    ::freeaddrinfo(res);
    if (!ok) {
      if (fd >= 0) ::close(fd);
      return;
    }
    // A read wakes at least every half second, so stopping never waits on a quiet stream.
    timeval tv{0, 500000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string after = std::to_string(std::max<int64_t>(0, seen_.load()));
    std::string req = "GET /api/v2/events/stream?after=" + after +
                      "&ticket=" + std::string(ticket) + " HTTP/1.1\r\nHost: " + host_ +
                      "\r\nAccept: text/event-stream\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
      ::close(fd);
      return;
    }
    std::string buffer;
    char chunk[4096];
    while (!stop_) {
      auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        break;
      }
      connected_ = true;
      buffer.append(chunk, static_cast<size_t>(n));
      // Only the "id: <position>" lines matter here; the rest of each event is skipped.
      size_t line_end;
      while ((line_end = buffer.find('\n')) != std::string::npos) {
        auto line = buffer.substr(0, line_end);
        buffer.erase(0, line_end + 1);
        if (line.rfind("id: ", 0) == 0) {
          try {
            seen_ = std::stoll(line.substr(4));
          } catch (const std::exception&) {
          }
        }
      }
      if (buffer.size() > (1u << 20)) buffer.clear();  // a line without end is not an id
    }
    ::close(fd);
  }

  api_client& api_;
  std::string host_, port_;
  std::atomic<int64_t> seen_;
  std::atomic<bool> connected_{false}, stop_{false};
  std::thread thread_;
};

// Asks on the bottom line; true on y.
bool confirm(const std::string& question) {
  int h = getmaxy(stdscr);
  move(h - 1, 0);
  clrtoeol();
  attron(A_BOLD);
  printw("%s [y/N] ", question.c_str());
  attroff(A_BOLD);
  refresh();
  timeout(-1);
  int ch = getch();
  return ch == 'y' || ch == 'Y';
}

// A line of text typed on the bottom line (the filter); Esc gives up, Enter takes it.
std::optional<std::string> prompt(const std::string& question, const std::string& current) {
  int h = getmaxy(stdscr);
  std::string text = current;
  timeout(-1);
  curs_set(1);
  for (;;) {
    move(h - 1, 0);
    clrtoeol();
    printw("%s%s", question.c_str(), text.c_str());
    refresh();
    int ch = getch();
    if (ch == 27) {
      curs_set(0);
      return std::nullopt;
    }
    if (ch == '\n' || ch == KEY_ENTER) break;
    if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && !text.empty())
      text.pop_back();
    else if (ch >= 32 && ch < 127 && text.size() < 100)
      text.push_back(static_cast<char>(ch));
  }
  curs_set(0);
  return text;
}

// Lines under a title, scrolled with the arrows; any other key goes back.
void pager(const std::string& title, const std::vector<std::string>& lines) {
  size_t top = 0;
  timeout(-1);
  std::string heading = title + " (up/down scroll, any other key back)";
  for (;;) {
    int h = getmaxy(stdscr), w = getmaxx(stdscr);
    erase();
    attron(A_BOLD);
    mvprintw(0, 0, "%.*s", w, heading.c_str());
    attroff(A_BOLD);
    for (int r = 0; r + 1 < h && top + r < lines.size(); ++r)
      mvprintw(1 + r, 0, "%.*s", w, lines[top + r].c_str());
    refresh();
    int ch = getch();
    if (ch == KEY_DOWN && top + 1 < lines.size())
      ++top;
    else if (ch == KEY_UP && top > 0)
      --top;
    else if (ch != KEY_DOWN && ch != KEY_UP)
      return;
  }
}

// A selected row in full (Enter).
void detail(const json::value& row) {
  std::vector<std::string> lines;
  std::istringstream in(domain::alerting::pretty_json(row));
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  pager("Detail", lines);
}

// Lines (and their ids and rows) holding `filter`, case-sensitive; all of them when empty.
table filtered(const table& t, const std::string& filter) {
  if (filter.empty()) return t;
  table out;
  out.header = t.header;
  for (size_t i = 0; i < t.lines.size(); ++i)
    if (t.lines[i].find(filter) != std::string::npos) {
      out.lines.push_back(t.lines[i]);
      if (i < t.ids.size()) out.ids.push_back(t.ids[i]);
      if (i < t.rows.size()) out.rows.push_back(t.rows[i]);
    }
  return out;
}

// Sends a confirmed action and says how it went on the status line.
void act(api_client& api, const std::string& question, const std::string& method,
         const std::string& path, json::object body, const std::string& done, std::string& status) {
  if (!confirm(question)) {
    status = "nothing done";
    return;
  }
  try {
    api.call(method, path, payload(body));
    status = done;
  } catch (const std::exception& e) {
    status = std::string("error: ") + e.what();
  }
}

}  // namespace

int run_console(const console_options& o) {
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    std::cerr << "beampipe: console needs a terminal\n";
    return 2;
  }
  api_client api(o.url, o.default_url);
  // Signed in and reachable before the screen is taken over; the live feed starts at the head.
  auto head = api.call("GET", "/overview").at("projections").at("head");
  live_feed feed(api, head.is_int64() ? head.as_int64() : 0);

  enum { kOverview, kSources, kExecutions, kWorkers, kScheduler, kDaliuge, kJobs, kLog };
  std::vector<view> views = {
      {"Overview", overview, ""},
      {"Sources", sources, ""},
      {"Executions", executions, "c cancel  t retry  m mark  x diff with marked"},
      {"Workers", workers, "d drain  u resume"},
      {"Scheduler", scheduler, ""},
      {"DALiuGE", daliuge, ""},
      {"Jobs", jobs, ""},
      {"Log", events, ""}};
  size_t current = 0, selected = 0, scroll = 0;
  std::string status = "connected to " + api.url(), filter, notice;
  std::string marked;  // the run `x` compares the selected one with
  table loaded, shown;
  bool reload = true, paused = false;
  int64_t drawn_at = feed.seen();
  bool drawn_live = false;
  auto next_refresh = std::chrono::steady_clock::now();

  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  set_escdelay(50);
  curs_set(0);
  for (bool running = true; running;) {
    auto now = std::chrono::steady_clock::now();
    // Live: a new event redraws within a moment; the interval refreshes in any case (a
    // worker's heartbeat, a probe, are not events). Paused: only r redraws.
    // A feed that drops (or comes back) redraws too, so a lost API shows at once.
    bool live = feed.connected();
    if (!paused && (now >= next_refresh || feed.seen() != drawn_at || live != drawn_live))
      reload = true;
    if (reload) {
      drawn_at = feed.seen();
      drawn_live = live;
      try {
        loaded = views[current].load(api);
        status = std::string(paused ? "paused; " : "") + "refreshed from " + api.url() +
                 (feed.connected() ? " (live)" : "");
      } catch (const std::exception& e) {
        // The console keeps running through an unreachable or refusing API and says so.
        status = std::string("error: ") + e.what();
      }
      reload = false;
      next_refresh = std::chrono::steady_clock::now() + o.interval;
    }
    shown = filtered(loaded, filter);
    if (!shown.ids.empty()) selected = std::min(selected, shown.ids.size() - 1);
    int h = getmaxy(stdscr), w = getmaxx(stdscr);
    erase();
    move(0, 0);
    for (size_t i = 0; i < views.size(); ++i) {
      if (i == current) attron(A_REVERSE);
      printw(" %zu %s ", i + 1, views[i].name);
      if (i == current) attroff(A_REVERSE);
    }
    if (!filter.empty()) printw("  filter: %s", filter.c_str());
    if (paused) printw("  [paused]");
    mvprintw(1, 0, "%s", std::string(static_cast<size_t>(std::max(w, 1)), '-').c_str());
    attron(A_BOLD);
    mvprintw(2, 0, "%.*s", w, shown.header.c_str());
    attroff(A_BOLD);
    int rows = std::max(1, h - 5);
    bool selectable = !shown.ids.empty();
    if (selectable) {
      if (selected < scroll) scroll = selected;
      if (selected >= scroll + static_cast<size_t>(rows)) scroll = selected - rows + 1;
    }
    for (int r = 0; r < rows && scroll + r < shown.lines.size(); ++r) {
      bool mark = selectable && scroll + r == selected;
      if (mark) attron(A_REVERSE);
      mvprintw(3 + r, 0, "%.*s", w, shown.lines[scroll + r].c_str());
      if (mark) attroff(A_REVERSE);
    }
    std::string help =
        "q quit  1-8/tab view  up/down select  enter detail  / filter  p pause  r refresh";
    if (*views[current].keys) help += std::string("  ") + views[current].keys;
    mvprintw(h - 2, 0, "%.*s", w, help.c_str());
    // What an action answered stays on the status line until the next key.
    mvprintw(h - 1, 0, "%.*s", w, (notice.empty() ? status : notice).c_str());
    refresh();

    timeout(200);  // short, so a live event is drawn quickly
    int ch = getch();
    if (ch == ERR) continue;
    notice.clear();
    auto switch_to = [&](size_t v) {
      current = v;
      selected = scroll = 0;
      filter.clear();
      reload = true;
    };
    const std::string id = selectable ? shown.ids[selected] : std::string();
    switch (ch) {
      case 'q':
        running = false;
        break;
      case '\t':
        switch_to((current + 1) % views.size());
        break;
      case KEY_UP:
        if (selected > 0) --selected;
        break;
      case KEY_DOWN:
        if (selectable && selected + 1 < shown.ids.size()) ++selected;
        break;
      case 'r':
        reload = true;
        break;
      case 'p':
        paused = !paused;
        notice = paused ? "paused: r refreshes, p resumes" : "live again";
        break;
      case '/':
        if (auto f = prompt("filter: ", filter)) {
          filter = *f;
          selected = scroll = 0;
        }
        break;
      case '\n':
      case KEY_ENTER:
        if (selectable && selected < shown.rows.size()) detail(shown.rows[selected]);
        break;
      case 'd':
      case 'u':
        if (current == kWorkers && selectable) {
          bool drain = ch == 'd';
          act(api, std::string(drain ? "Drain" : "Resume") + " worker " + id + "?", "POST",
              "/workers/" + id + (drain ? "/drain" : "/resume"),
              drain ? json::object{{"reason", "from the console"}} : json::object{},
              std::string(drain ? "drained" : "resumed") + ": worker " + id, notice);
          reload = true;
        }
        break;
      case 'c':
        if (current == kExecutions && selectable) {
          act(api, "Cancel execution " + id + "?", "PATCH", "/executions/" + id,
              {{"status", "cancelled"}, {"reason", "cancelled from the console"}},
              "cancel requested: execution " + id, notice);
          reload = true;
        }
        break;
      case 't':
        if (current == kExecutions && selectable) {
          act(api, "Retry execution " + id + "?", "POST", "/executions/" + id + "/retry",
              {{"reason", "retried from the console"}}, "retry requested: execution " + id, notice);
          reload = true;
        }
        break;
      case 'm':
        if (current == kExecutions && selectable) {
          marked = id;
          notice = "marked run " + id + ": select another and press x to see what differs";
        }
        break;
      case 'x':
        if (current == kExecutions && selectable) {
          if (marked.empty()) {
            notice = "mark a run with m first";
            break;
          }
          try {
            pager("Run diff",
                  run_diff_lines(api.call("GET", "/executions/" + marked + "/diff/" + id)));
          } catch (const std::exception& e) {
            notice = std::string("error: ") + e.what();
          }
        }
        break;
      default:
        if (ch >= '1' && ch < '1' + static_cast<int>(views.size()))
          switch_to(static_cast<size_t>(ch - '1'));
    }
  }
  endwin();
  return 0;
}

}  // namespace beampipe::cli
