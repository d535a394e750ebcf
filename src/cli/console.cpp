#include "cli/console.hpp"

#include <ncurses.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "cli/api_client.hpp"

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
  std::vector<std::string> ids;
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
  auto page = api.call("GET", "/executions?items_per_page=200");
  table t;
  t.header = cell("EXECUTION", 36) + cell("MODULE", 16) + cell("STATUS", 18) + cell("PHASE", 12) +
             cell("SUBMISSION", 12) + "CREATED";
  for (const auto& r : page.at("items").as_array()) {
    t.ids.push_back(at(r, {"uuid"}));
    t.lines.push_back(cell(at(r, {"uuid"}), 36) + cell(at(r, {"project_module"}), 16) +
                      cell(at(r, {"status"}), 18) + cell(at(r, {"execution_phase"}), 12) +
                      cell(at(r, {"submission_state"}), 12) + at(r, {"created_at"}));
  }
  return t;
}

table workers(api_client& api) {
  auto page = api.call("GET", "/workers?items_per_page=500");
  table t;
  t.header = cell("WORKER", 34) + cell("STATUS", 9) + cell("HEALTH", 9) + cell("POOL", 10) +
             cell("LEASES", 6) + cell("BEAT", 8) + "DRAIN REASON";
  for (const auto& r : page.at("items").as_array()) {
    t.ids.push_back(at(r, {"id"}));
    t.lines.push_back(cell(at(r, {"id"}), 34) + cell(at(r, {"status"}), 9) +
                      cell(at(r, {"health"}), 9) + cell(at(r, {"pool"}), 10) +
                      cell(at(r, {"active_leases"}), 6) +
                      cell(at(r, {"heartbeat_age_seconds"}) + "s", 8) + at(r, {"drain_reason"}));
  }
  return t;
}

table jobs(api_client& api) {
  auto rows = api.call("GET", "/jobs?limit=200");
  table t;
  t.header = cell("JOB", 36) + cell("KIND", 22) + cell("STATUS", 11) + cell("ATTEMPT", 7) +
             cell("OWNER", 24) + "SUBJECT";
  for (const auto& r : rows.as_array()) {
    t.ids.push_back(at(r, {"id"}));
    t.lines.push_back(cell(at(r, {"id"}), 36) + cell(at(r, {"kind"}), 22) +
                      cell(at(r, {"status"}), 11) + cell(at(r, {"attempt"}), 7) +
                      cell(at(r, {"lease_owner"}), 24) + at(r, {"subject"}));
  }
  return t;
}

// The newest events of the store, newest first.
table events(api_client& api) {
  auto head = api.call("GET", "/overview").at("projections").at("head");
  int64_t last = head.is_int64() ? head.as_int64() : 0;
  auto feed = api.call(
      "GET", "/events?after=" + std::to_string(std::max<int64_t>(0, last - 200)) + "&limit=200");
  table t;
  t.header = cell("POSITION", 9) + cell("RECORDED", 27) + cell("TYPE", 32) + "STREAM";
  const auto& evs = feed.at("events").as_array();
  for (auto it = evs.rbegin(); it != evs.rend(); ++it)
    t.lines.push_back(cell(at(*it, {"position"}), 9) + cell(at(*it, {"recorded_at"}), 27) +
                      cell(at(*it, {"type"}), 32) + at(*it, {"stream_id"}));
  return t;
}

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

}  // namespace

int run_console(const console_options& o) {
  if (!::isatty(STDIN_FILENO) || !::isatty(STDOUT_FILENO)) {
    std::cerr << "beampipe: console needs a terminal\n";
    return 2;
  }
  api_client api(o.url, o.default_url);
  api.call("GET", "/user/me");  // signed in and reachable, before the screen is taken over

  std::vector<view> views = {{"Overview", overview, ""},
                             {"Executions", executions, "c cancel"},
                             {"Workers", workers, "d drain  u resume"},
                             {"Jobs", jobs, ""},
                             {"Events", events, ""}};
  size_t current = 0, selected = 0, scroll = 0;
  std::string status = "connected to " + api.url();
  table shown;
  bool reload = true;

  initscr();
  cbreak();
  noecho();
  keypad(stdscr, TRUE);
  curs_set(0);
  for (bool running = true; running;) {
    if (reload) {
      try {
        shown = views[current].load(api);
        status = "refreshed from " + api.url();
      } catch (const std::exception& e) {
        // The console keeps running through an unreachable or refusing API and says so.
        status = std::string("error: ") + e.what();
      }
      reload = false;
      if (!shown.ids.empty()) selected = std::min(selected, shown.ids.size() - 1);
    }
    int h = getmaxy(stdscr), w = getmaxx(stdscr);
    erase();
    move(0, 0);
    for (size_t i = 0; i < views.size(); ++i) {
      if (i == current) attron(A_REVERSE);
      printw(" %zu %s ", i + 1, views[i].name);
      if (i == current) attroff(A_REVERSE);
    }
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
    std::string help = "q quit  1-5/tab view  up/down select  r refresh";
    if (*views[current].keys) help += std::string("  ") + views[current].keys;
    mvprintw(h - 2, 0, "%.*s", w, help.c_str());
    mvprintw(h - 1, 0, "%.*s", w, status.c_str());
    refresh();

    timeout(static_cast<int>(o.interval.count()));
    int ch = getch();
    switch (ch) {
      case ERR:  // the interval passed
        reload = true;
        break;
      case 'q':
        running = false;
        break;
      case '\t':
        current = (current + 1) % views.size();
        selected = scroll = 0;
        reload = true;
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
      default:
        if (ch >= '1' && ch < '1' + static_cast<int>(views.size())) {
          current = static_cast<size_t>(ch - '1');
          selected = scroll = 0;
          reload = true;
        } else if (selectable && current == 2 && (ch == 'd' || ch == 'u')) {
          const auto& id = shown.ids[selected];
          const char* what = ch == 'd' ? "drain" : "resume";
          if (confirm(std::string(ch == 'd' ? "Drain" : "Resume") + " worker " + id + "?")) {
            try {
              api.call("POST", "/workers/" + id + "/" + what,
                       payload(json::object{{"reason", "from the console"}}));
              status = std::string(what) + ": worker " + id;
            } catch (const std::exception& e) {
              status = std::string("error: ") + e.what();
            }
          }
          reload = true;
        } else if (selectable && current == 1 && ch == 'c') {
          const auto& id = shown.ids[selected];
          if (confirm("Cancel execution " + id + "?")) {
            try {
              api.call("PATCH", "/executions/" + id,
                       payload(json::object{{"status", "cancelled"},
                                            {"reason", "cancelled from the console"}}));
              status = "cancel requested: execution " + id;
            } catch (const std::exception& e) {
              status = std::string("error: ") + e.what();
            }
          }
          reload = true;
        }
    }
  }
  endwin();
  return 0;
}

}  // namespace beampipe::cli
