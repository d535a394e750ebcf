// VOTable parse throughput: beampipe's reader against astropy on the same files, one run.
//
//   beampipe_bench_votable [--mb 50] [--repeat 3] [--dir /tmp/beampipe-bench-votable]
//
// Writes an obscore-like table (char, long with a VALUES null, double, int, float, boolean)
// of about --mb MB as TABLEDATA and the same rows as BINARY2, times the reader (best of
// --repeat), then runs tests/tap/votable_bench_astropy.py on the same files and prints
// RESULT lines and the throughput ratio. Goal (issue 4): ≥ 10× astropy.
#include "adapters/votable.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace beampipe::adapters;

namespace {

void result(const std::string& name, const std::string& metric, double v, const std::string& unit) {
  std::printf("RESULT\t%s\t%s\t%.3f\t%s\n", name.c_str(), metric.c_str(), v, unit.c_str());
  std::fflush(stdout);
}

const char* kFields =
    "<FIELD name=\"obs_id\" datatype=\"char\" arraysize=\"*\"/>"
    "<FIELD name=\"filename\" datatype=\"char\" arraysize=\"*\"/>"
    "<FIELD name=\"filesize\" datatype=\"long\" unit=\"kbyte\"><VALUES null=\"-1\"/></FIELD>"
    "<FIELD name=\"s_ra\" datatype=\"double\" unit=\"deg\"/>"
    "<FIELD name=\"s_dec\" datatype=\"double\" unit=\"deg\"/>"
    "<FIELD name=\"t_min\" datatype=\"double\" unit=\"d\"/>"
    "<FIELD name=\"sbid\" datatype=\"int\"><VALUES null=\"-2147483648\"/></FIELD>"
    "<FIELD name=\"freq\" datatype=\"float\"/>"
    "<FIELD name=\"calibrated\" datatype=\"boolean\"/>";

struct row {
  std::string obs_id, filename;
  long long filesize;
  double ra, dec, t;
  int sbid;
  float freq;
  bool cal;
};

row make_row(long i) {
  row r;
  r.sbid = 10000 + static_cast<int>(i / 36);
  r.obs_id = "ASKAP-" + std::to_string(r.sbid);
  char buf[96];
  std::snprintf(buf, sizeof buf, "HIPASSJ%04ld-%02ld_A_beam%02ld.ms.tar", 1000 + i % 1400, i % 90, i % 36);
  r.filename = buf;
  r.filesize = (i % 17 == 0) ? -1 : 150000000 + i;
  r.ra = 198.3125 + static_cast<double>(i % 3600) / 10.0;
  r.dec = -15.7681 - static_cast<double>(i % 900) / 11.0;
  r.t = 60340.1 + static_cast<double>(i) / 1000.0;
  r.freq = 1.4e9f + static_cast<float>(i % 1000);
  r.cal = i % 3 != 0;
  return r;
}

void put_be(std::string& s, std::uint64_t v, int bytes) {
  for (int k = bytes - 1; k >= 0; --k) s.push_back(static_cast<char>((v >> (8 * k)) & 0xFF));
}

std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve(in.size() * 4 / 3 + in.size() / 57 + 8);
  std::size_t i = 0, line = 0;
  auto b = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[k])); };
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
    if (++line == 19) {
      out.push_back('\n');
      line = 0;
    }
  }
  if (in.size() - i == 1) {
    std::uint32_t v = b(i) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    std::uint32_t v = (b(i) << 16) | (b(i + 1) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

std::string head() {
  return std::string("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<VOTABLE version=\"1.4\" "
                     "xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n<RESOURCE type=\"results\">\n"
                     "<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n<TABLE>\n") +
         kFields + "\n<DATA>";
}
const char* kTail = "</DATA>\n</TABLE>\n</RESOURCE>\n</VOTABLE>\n";

std::string fmt_double(double d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::pair<std::string, std::string> make_documents(std::size_t target_bytes, long& rows) {
  std::string td = head() + "<TABLEDATA>\n";
  std::string bin;
  rows = 0;
  while (td.size() < target_bytes) {
    auto r = make_row(rows++);
    td += "<TR><TD>" + r.obs_id + "</TD><TD>" + r.filename + "</TD><TD>" + std::to_string(r.filesize) +
          "</TD><TD>" + fmt_double(r.ra) + "</TD><TD>" + fmt_double(r.dec) + "</TD><TD>" + fmt_double(r.t) +
          "</TD><TD>" + std::to_string(r.sbid) + "</TD><TD>" + fmt_double(r.freq) + "</TD><TD>" +
          (r.cal ? "T" : "F") + "</TD></TR>\n";
    // BINARY2: 2 null-flag bytes for 9 fields; the -1 filesize is flagged as null.
    bin.push_back(static_cast<char>(r.filesize == -1 ? 0x20 : 0));
    bin.push_back(0);
    put_be(bin, r.obs_id.size(), 4);
    bin += r.obs_id;
    put_be(bin, r.filename.size(), 4);
    bin += r.filename;
    put_be(bin, static_cast<std::uint64_t>(r.filesize), 8);
    std::uint64_t u;
    for (double d : {r.ra, r.dec, r.t}) {
      std::memcpy(&u, &d, 8);
      put_be(bin, u, 8);
    }
    put_be(bin, static_cast<std::uint32_t>(r.sbid), 4);
    std::uint32_t f;
    std::memcpy(&f, &r.freq, 4);
    put_be(bin, f, 4);
    bin.push_back(r.cal ? 'T' : 'F');
  }
  td += "</TABLEDATA>" + std::string(kTail);
  std::string b2 = head() + "<BINARY2><STREAM encoding=\"base64\">\n" + base64(bin) + "\n</STREAM></BINARY2>" + kTail;
  return {td, b2};
}

double best_seconds(const std::string& doc, int repeat, std::size_t expect_rows) {
  double best = 1e99;
  votable_limits limits;
  limits.max_document_bytes = std::size_t{4} << 30;
  limits.max_rows = 100'000'000;
  limits.max_cells = 1'000'000'000;
  for (int i = 0; i < repeat; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = parse_votable(doc, limits);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.row_count != expect_rows) {
      std::fprintf(stderr, "bench_votable: read %zu rows, wrote %zu\n", r.row_count, expect_rows);
      std::exit(1);
    }
    best = std::min(best, s);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t mb = 50;
  int repeat = 3;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "beampipe-bench-votable";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--mb") mb = std::strtoul(argv[i + 1], nullptr, 10);
    else if (a == "--repeat") repeat = std::atoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
  }
  std::filesystem::create_directories(dir);
  long rows = 0;
  auto [td, b2] = make_documents(mb << 20, rows);
  auto td_path = dir / "table_tabledata.xml";
  auto b2_path = dir / "table_binary2.xml";
  std::ofstream(td_path, std::ios::binary) << td;
  std::ofstream(b2_path, std::ios::binary) << b2;
  std::printf("# %ld rows; TABLEDATA %.1f MB, BINARY2 %.1f MB\n", rows, td.size() / 1048576.0, b2.size() / 1048576.0);

  double ours_td = best_seconds(td, repeat, static_cast<std::size_t>(rows));
  double ours_b2 = best_seconds(b2, repeat, static_cast<std::size_t>(rows));
  result("votable_tabledata", "beampipe_mb_per_s", td.size() / 1048576.0 / ours_td, "MB/s");
  result("votable_binary2", "beampipe_mb_per_s", b2.size() / 1048576.0 / ours_b2, "MB/s");

  // astropy on the same files, in the same run (Debian's python3 has python3-astropy).
  std::string script = std::string(BEAMPIPE_SOURCE_DIR) + "/tests/tap/votable_bench_astropy.py";
  std::string cmd = "/usr/bin/python3 " + script + " " + std::to_string(repeat) + " " + td_path.string() + " " +
                    b2_path.string();
  FILE* p = popen(cmd.c_str(), "r");
  double astro_td = 0, astro_b2 = 0;
  if (p) {
    char line[256];
    while (std::fgets(line, sizeof line, p)) {
      char which[32];
      double secs = 0;
      if (std::sscanf(line, "%31s %lf", which, &secs) == 2) {
        if (std::strcmp(which, "tabledata") == 0) astro_td = secs;
        if (std::strcmp(which, "binary2") == 0) astro_b2 = secs;
      }
    }
    pclose(p);
  }
  if (astro_td <= 0 || astro_b2 <= 0) {
    std::fprintf(stderr, "bench_votable: astropy timing failed (%s)\n", cmd.c_str());
    return 1;
  }
  result("votable_tabledata", "astropy_mb_per_s", td.size() / 1048576.0 / astro_td, "MB/s");
  result("votable_binary2", "astropy_mb_per_s", b2.size() / 1048576.0 / astro_b2, "MB/s");
  result("votable_tabledata", "ratio_vs_astropy", astro_td / ours_td, "x");
  result("votable_binary2", "ratio_vs_astropy", astro_b2 / ours_b2, "x");
  return 0;
}
