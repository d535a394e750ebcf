// VOTable reader on hand-written documents: every serialization, datatype, null convention,
// QUERY_STATUS handling and the limits that keep hostile documents bounded.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "adapters/votable.hpp"

using namespace beampipe::adapters;
namespace json = boost::json;

namespace {

std::string doc(const std::string& fields, const std::string& data, const std::string& after = "") {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<?xml-stylesheet href='x.xsl' type='text/xsl' ?>\n"
         "<VOTABLE version=\"1.4\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\r\n"
         "<RESOURCE type='results'><INFO name=\"QUERY_STATUS\" value=\"OK\">Query "
         "successful</INFO>\n"
         "<TABLE>" +
         fields + "<DATA>" + data + "</DATA></TABLE>" + after + "</RESOURCE></VOTABLE>";
}

std::string base64(const std::string& bytes) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    std::uint32_t v = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8) |
                      std::uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out.push_back(t[(v >> k) & 63]);
    if (out.size() % 77 == 76) out.push_back('\n');  // streams are line-wrapped in the wild
  }
  if (bytes.size() - i == 1) {
    std::uint32_t v = std::uint8_t(bytes[i]) << 16;
    out += {t[(v >> 18) & 63], t[(v >> 12) & 63], '=', '='};
  } else if (bytes.size() - i == 2) {
    std::uint32_t v = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8);
    out += {t[(v >> 18) & 63], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

struct be {  // big-endian byte builder
  std::string s;
  be& u8(std::uint8_t v) {
    s.push_back(char(v));
    return *this;
  }
  be& u16(std::uint16_t v) { return u8(v >> 8).u8(v & 0xFF); }
  be& u32(std::uint32_t v) { return u16(v >> 16).u16(v & 0xFFFF); }
  be& u64(std::uint64_t v) { return u32(std::uint32_t(v >> 32)).u32(std::uint32_t(v)); }
  be& f32(float v) { return u32(std::bit_cast<std::uint32_t>(v)); }
  be& f64(double v) { return u64(std::bit_cast<std::uint64_t>(v)); }
  be& str(const std::string& v) {
    s += v;
    return *this;
  }
};

votable_error::kind error_kind(const std::string& document, const votable_limits& limits = {}) {
  try {
    (void)parse_votable(document, limits);
  } catch (const votable_error& e) {
    return e.code();
  }
  FAIL("expected a votable_error");
  return votable_error::kind::malformed;
}

const char* kAllScalars =
    "<FIELD name=\"b\" datatype=\"boolean\"/>"
    "<FIELD name=\"bit\" datatype=\"bit\"/>"
    "<FIELD name=\"ub\" datatype=\"unsignedByte\"><VALUES null=\"255\"/></FIELD>"
    "<FIELD name=\"s\" datatype=\"short\"><VALUES null=\"-32768\"/></FIELD>"
    "<FIELD name=\"i\" datatype=\"int\"><VALUES null=\"-2147483648\"/></FIELD>"
    "<FIELD name=\"l\" ID=\"filesize\" datatype=\"long\" ucd=\"phys.size;meta.file\" "
    "unit=\"kbyte\"><VALUES null=\"-1\"></VALUES></FIELD>"
    "<FIELD name=\"c\" datatype=\"char\" arraysize=\"*\"/>"
    "<FIELD name=\"u\" datatype=\"unicodeChar\" arraysize=\"*\"/>"
    "<FIELD name=\"f\" datatype=\"float\"/>"
    "<FIELD name=\"d\" datatype=\"double\" xtype=\"mjd\"/>"
    "<FIELD name=\"fc\" datatype=\"floatComplex\"/>"
    "<FIELD name=\"dc\" datatype=\"doubleComplex\"/>";

}  // namespace

TEST_CASE("TABLEDATA: every scalar datatype with values and with each null convention") {
  auto r = parse_votable(
      doc(kAllScalars,
          "<TABLEDATA>"
          "<TR><TD>T</TD><TD>1</TD><TD>7</TD><TD>-12</TD><TD>0x10</TD><TD>162345000</TD>"
          "<TD>  HIPASS J1313&amp;-15 </TD><TD>Ærø &#x3b1;</TD><TD>1.5</TD><TD>60340.1</TD><TD>1 "
          "-2</TD><TD>0.5 1e300</TD></TR>"
          "<TR><TD>?</TD><TD/><TD>255</TD><TD>-32768</TD><TD>-2147483648</TD><TD>-1</TD>"
          "<TD></TD><TD/><TD>NaN</TD><TD>nan</TD><TD>NaN 1</TD><TD></TD></TR>"
          "<TR><TD>false</TD><TD>0</TD><TD>0</TD><TD>+5</TD><TD>-7</TD><TD>9223372036854775807</TD>"
          "<TD><![CDATA[<x> & y]]></TD><TD>z</TD><TD>-Inf</TD><TD>+Inf</TD><TD>0 0</TD><TD>1 "
          "2</TD></TR>"
          "</TABLEDATA>"));
  REQUIRE(r.fields.size() == 12);
  CHECK(r.serialization == "TABLEDATA");
  CHECK(r.row_count == 3);
  CHECK(r.fields[5].name == "l");
  CHECK(r.fields[5].id == "filesize");
  CHECK(r.fields[5].ucd == "phys.size;meta.file");
  CHECK(r.fields[5].unit == "kbyte");
  CHECK(r.fields[5].null_value == std::optional<std::string>("-1"));
  CHECK(r.fields[9].xtype == "mjd");

  auto a = r.row(0);
  CHECK(a[0] == json::value(true));
  CHECK(a[1] == json::value(true));
  CHECK(a[2] == json::value(7));
  CHECK(a[3] == json::value(-12));
  CHECK(a[4] == json::value(16));
  CHECK(a[5] == json::value(162345000));
  CHECK(a[6] == json::value("  HIPASS J1313&-15 "));  // char whitespace is significant
  CHECK(a[7] == json::value("Ærø α"));
  CHECK(a[8] == json::value(1.5));
  CHECK(a[9] == json::value(60340.1));
  CHECK(a[10] == json::value(json::array{1.0, -2.0}));
  CHECK(a[11] == json::value(json::array{0.5, 1e300}));

  for (auto& v : r.row(1)) CHECK(v.is_null());

  auto c = r.row(2);
  CHECK(c[0] == json::value(false));
  CHECK(c[3] == json::value(5));
  CHECK(c[5] == json::value(INT64_MAX));
  CHECK(c[6] == json::value("<x> & y"));
  CHECK(std::isinf(c[8].as_double()));
  CHECK(c[8].as_double() < 0);
  CHECK(c[9].as_double() > 0);
  CHECK(r.column("FILESIZE") == std::nullopt);
  CHECK(r.column("L") == std::optional<std::size_t>(5));
  CHECK(r.row_object(0).at("i") == json::value(16));
}

TEST_CASE("TABLEDATA: arrays, fixed and variable, multi-dimensional, with element nulls") {
  auto r = parse_votable(
      doc("<FIELD name=\"iv\" datatype=\"int\" arraysize=\"3\"><VALUES null=\"-1\"/></FIELD>"
          "<FIELD name=\"dv\" datatype=\"double\" arraysize=\"*\"/>"
          "<FIELD name=\"m\" datatype=\"short\" arraysize=\"2x*\"/>"
          "<FIELD name=\"c8\" datatype=\"char\" arraysize=\"8\"/>"
          "<FIELD name=\"cs\" datatype=\"char\" arraysize=\"3x2\"/>"
          "<FIELD name=\"bits\" datatype=\"bit\" arraysize=\"5\"/>"
          "<FIELD name=\"bools\" datatype=\"boolean\" arraysize=\"*\"/>"
          "<FIELD name=\"cv\" datatype=\"floatComplex\" arraysize=\"2\"/>"
          "<FIELD name=\"one\" datatype=\"int\" arraysize=\"1\"/>",
          "<TABLEDATA><TR><TD>1 -1  3</TD><TD>1.5 NaN 2e3</TD><TD>1 2 3 "
          "4</TD><TD>ab</TD><TD>abcdef</TD>"
          "<TD>1 0 1 1 0</TD><TD>T F ?</TD><TD>1 2 3 4</TD><TD>42</TD></TR>"
          "<TR><TD/><TD></TD><TD></TD><TD/><TD/><TD>10110</TD><TD/><TD/><TD/></TR></TABLEDATA>"));
  auto a = r.row(0);
  CHECK(a[0] == json::value(json::array{1, nullptr, 3}));
  CHECK(a[1] == json::value(json::array{1.5, nullptr, 2000.0}));
  CHECK(a[2] == json::value(json::array{1, 2, 3, 4}));
  CHECK(a[3] == json::value("ab"));
  CHECK(a[4] == json::value(json::array{"abc", "def"}));
  CHECK(a[5] == json::value(json::array{true, false, true, true, false}));
  CHECK(a[6] == json::value(json::array{true, false, nullptr}));
  CHECK(a[7] == json::value(json::array{json::array{1.0, 2.0}, json::array{3.0, 4.0}}));
  CHECK(a[8] == json::value(42));  // arraysize="1" is a scalar
  auto b = r.row(1);
  CHECK(b[0].is_null());
  CHECK(b[1].is_null());
  CHECK(b[5] == json::value(json::array{true, false, true, true, false}));
}

TEST_CASE("TABLEDATA: a short TR is padded with nulls, a long one is an error") {
  auto r =
      parse_votable(doc("<FIELD name=\"a\" datatype=\"int\"/><FIELD name=\"b\" datatype=\"int\"/>",
                        "<TABLEDATA><TR><TD>1</TD></TR></TABLEDATA>"));
  CHECK(r.row(0)[0] == json::value(1));
  CHECK(r.row(0)[1].is_null());
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<TABLEDATA><TR><TD>1</TD><TD>2</TD></TR></TABLEDATA>")) ==
        votable_error::kind::malformed);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<TABLEDATA><TR><TD>x1</TD></TR></TABLEDATA>")) ==
        votable_error::kind::malformed);
}

TEST_CASE(
    "BINARY: big-endian cells, variable-length prefixes, padded chars, VALUES nulls and NaN") {
  be b;
  // row 1
  b.u8('T')
      .u16(0x8000)
      .u32(42)
      .u64(162345000)
      .u32(5)
      .str("J1313")
      .str(std::string("ab\0\0", 4))
      .f32(1.5f)
      .f64(60340.1)
      .u32(2)
      .u16(0x00E6)
      .u16(0x03B1)
      .u32(2)
      .f64(1)
      .f64(2)
      .u8(0b10100000);
  // row 2: nulls by sentinel/NaN/'?' and an empty variable array
  b.u8('?')
      .u16(0x8000)
      .u32(0x80000000u)
      .u64(std::uint64_t(-1))
      .u32(0)
      .str(std::string(4, '\0'))
      .f32(std::nanf(""))
      .f64(std::nan(""))
      .u32(0)
      .u32(0)
      .u8(0);
  auto r = parse_votable(
      doc("<FIELD name=\"b\" datatype=\"boolean\"/>"
          "<FIELD name=\"s\" datatype=\"short\"><VALUES null=\"-32768\"/></FIELD>"
          "<FIELD name=\"i\" datatype=\"int\"><VALUES null=\"-2147483648\"/></FIELD>"
          "<FIELD name=\"l\" datatype=\"long\"><VALUES null=\"-1\"/></FIELD>"
          "<FIELD name=\"name\" datatype=\"char\" arraysize=\"*\"/>"
          "<FIELD name=\"fixed\" datatype=\"char\" arraysize=\"4\"/>"
          "<FIELD name=\"f\" datatype=\"float\"/>"
          "<FIELD name=\"d\" datatype=\"double\"/>"
          "<FIELD name=\"u\" datatype=\"unicodeChar\" arraysize=\"*\"/>"
          "<FIELD name=\"dv\" datatype=\"double\" arraysize=\"*\"/>"
          "<FIELD name=\"bits\" datatype=\"bit\" arraysize=\"3\"/>",
          "<BINARY><STREAM encoding=\"base64\">\n" + base64(b.s) + "\n</STREAM></BINARY>"));
  CHECK(r.serialization == "BINARY");
  REQUIRE(r.row_count == 2);
  auto a = r.row(0);
  CHECK(a[0] == json::value(true));
  CHECK(a[1].is_null());
  CHECK(a[2] == json::value(42));
  CHECK(a[3] == json::value(162345000));
  CHECK(a[4] == json::value("J1313"));
  CHECK(a[5] == json::value("ab"));
  CHECK(a[6] == json::value(1.5));
  CHECK(a[7] == json::value(60340.1));
  CHECK(a[8] == json::value("æα"));
  CHECK(a[9] == json::value(json::array{1.0, 2.0}));
  CHECK(a[10] == json::value(json::array{true, false, true}));
  auto z = r.row(1);
  for (int i : {0, 1, 2, 3, 6, 7}) CHECK(z[i].is_null());
  CHECK(z[4] == json::value(""));
  CHECK(z[5] == json::value(""));
  CHECK(z[9] == json::value(json::array{}));
}

TEST_CASE(
    "BINARY: a char without arraysize is a one-character string; a lone bit reads any set bit") {
  auto r = parse_votable(
      doc("<FIELD name=\"c\" datatype=\"char\"/><FIELD name=\"u\" datatype=\"unicodeChar\"/>"
          "<FIELD name=\"b\" datatype=\"bit\"/>",
          "<BINARY><STREAM encoding=\"base64\">" +
              base64(be{}.str("Q")
                         .u16(0x263A)
                         .u8(0x80)
                         .str("R")
                         .u16(0x41)
                         .u8(0x08)
                         .str("S")
                         .u16(0x42)
                         .u8(0)
                         .s) +
              "</STREAM></BINARY>"));
  REQUIRE(r.row_count == 3);
  CHECK(r.row(0)[0] == json::value("Q"));
  CHECK(r.row(0)[1] == json::value("☺"));
  CHECK(r.row(0)[2] == json::value(true));  // the spec's MSB
  CHECK(r.row(1)[2] == json::value(true));  // astropy writes 0x08
  CHECK(r.row(2)[2] == json::value(false));
}

TEST_CASE("BINARY2: the per-row null bitmap wins over the cell bytes") {
  be b;
  // 10 fields → 2 flag bytes; row 1 no nulls, row 2 fields 1, 5 and 10 null.
  auto row = [&](std::uint8_t f0, std::uint8_t f1, std::int32_t v) {
    b.u8(f0)
        .u8(f1)
        .u32(std::uint32_t(v))
        .u32(3)
        .str("abc")
        .f64(2.5)
        .u8('F')
        .u16(7)
        .u64(9)
        .f32(0.25f)
        .u8(1)
        .u32(1)
        .u16(0x263A)
        .u32(0)
        .u32(0);
  };
  row(0, 0, 1);
  row(0b10001000, 0b01000000, 2);
  auto r = parse_votable(doc(
      "<FIELD name=\"i\" datatype=\"int\"/><FIELD name=\"c\" datatype=\"char\" arraysize=\"*\"/>"
      "<FIELD name=\"d\" datatype=\"double\"/><FIELD name=\"b\" datatype=\"boolean\"/>"
      "<FIELD name=\"s\" datatype=\"short\"/><FIELD name=\"l\" datatype=\"long\"/>"
      "<FIELD name=\"f\" datatype=\"float\"/><FIELD name=\"ub\" datatype=\"unsignedByte\"/>"
      "<FIELD name=\"u\" datatype=\"unicodeChar\" arraysize=\"*\"/><FIELD name=\"fc\" "
      "datatype=\"floatComplex\"/>",
      "<BINARY2><STREAM encoding='base64'>" + base64(b.s) + "</STREAM></BINARY2>"));
  CHECK(r.serialization == "BINARY2");
  REQUIRE(r.row_count == 2);
  CHECK(r.row(0)[0] == json::value(1));
  CHECK(r.row(0)[1] == json::value("abc"));
  CHECK(r.row(0)[3] == json::value(false));
  CHECK(r.row(0)[8] == json::value("☺"));
  CHECK(r.row(0)[9] == json::value(json::array{0.0, 0.0}));
  CHECK(r.row(1)[0].is_null());
  CHECK(r.row(1)[1] == json::value("abc"));
  CHECK(r.row(1)[4].is_null());
  CHECK(r.row(1)[5] == json::value(9));
  CHECK(r.row(1)[9].is_null());
}

TEST_CASE("QUERY_STATUS: ERROR is an error with the service's text, OVERFLOW marks truncation") {
  const std::string err =
      "<VOTABLE version=\"1.3\"><RESOURCE type=\"results\">"
      "<INFO name=\"QUERY_STATUS\" value=\"ERROR\">Field query: Could not parse your query: "
      "Expected \"SELECT\"</INFO>"
      "</RESOURCE></VOTABLE>";
  try {
    (void)parse_votable(err);
    FAIL("expected an error");
  } catch (const votable_error& e) {
    CHECK(e.code() == votable_error::kind::query_error);
    CHECK(std::string(e.what()) == "Field query: Could not parse your query: Expected \"SELECT\"");
  }
  auto overflow = parse_votable(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                                    "<TABLEDATA><TR><TD>1</TD></TR><TR><TD>2</TD></TR></TABLEDATA>",
                                    "<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>"));
  CHECK(overflow.truncated);
  CHECK(overflow.row_count == 2);
  CHECK(overflow.query_status == "OVERFLOW");
  CHECK_FALSE(parse_votable(doc("<FIELD name=\"a\" datatype=\"int\"/>", "<TABLEDATA/>")).truncated);
  // A trailing ERROR after a partial table must not pass as a short result.
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<TABLEDATA><TR><TD>1</TD></TR></TABLEDATA>",
                       "<INFO name=\"QUERY_STATUS\" value=\"ERROR\">backend died</INFO>")) ==
        votable_error::kind::query_error);
  CHECK(error_kind("<VOTABLE><RESOURCE><INFO name=\"QUERY_STATUS\" "
                   "value=\"ERROR\"/></RESOURCE></VOTABLE>") == votable_error::kind::query_error);
}

TEST_CASE("namespace prefixes are ignored and only the first TABLE is read") {
  auto r = parse_votable(
      "<v:VOTABLE xmlns:v=\"http://www.ivoa.net/xml/VOTable/v1.3\"><v:RESOURCE>"
      "<v:TABLE><v:FIELD name=\"x\" "
      "datatype=\"int\"/><v:DATA><v:TABLEDATA><v:TR><v:TD>3</v:TD></v:TR></v:TABLEDATA></v:DATA></"
      "v:TABLE>"
      "<v:TABLE><v:FIELD name=\"y\" "
      "datatype=\"int\"/><v:DATA><v:TABLEDATA><v:TR><v:TD>4</v:TD></v:TR></v:TABLEDATA></v:DATA></"
      "v:TABLE>"
      "</v:RESOURCE></v:VOTABLE>");
  REQUIRE(r.fields.size() == 1);
  CHECK(r.row_count == 1);
  CHECK(r.row(0)[0] == json::value(3));
  // PARAM VALUES must not be taken for a FIELD's null sentinel
  auto p = parse_votable(
      doc("<PARAM name=\"p\" datatype=\"int\" value=\"1\"><VALUES null=\"5\"/></PARAM>"
          "<FIELD name=\"a\" datatype=\"int\"/>",
          "<TABLEDATA><TR><TD>5</TD></TR></TABLEDATA>"));
  CHECK(p.row(0)[0] == json::value(5));
  auto empty = parse_votable(
      "<VOTABLE><RESOURCE type=\"results\"><INFO name=\"QUERY_STATUS\" "
      "value=\"OK\"/></RESOURCE></VOTABLE>");
  CHECK(empty.fields.empty());
  CHECK(empty.row_count == 0);
}

TEST_CASE("bad and hostile documents give typed errors, never a crash") {
  using k = votable_error::kind;
  CHECK(error_kind("") == k::malformed);
  CHECK(error_kind("not xml at all") == k::malformed);
  CHECK(error_kind("<html><body>502 Bad Gateway</body></html>") == k::malformed);
  CHECK(error_kind("<VOTABLE><RESOURCE>") == k::malformed);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"quaternion\"/>", "<TABLEDATA/>")) ==
        k::malformed);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\" arraysize=\"*x3\"/>", "<TABLEDATA/>")) ==
        k::malformed);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<FITS><STREAM href=\"x.fits\"/></FITS>")) == k::unsupported);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<BINARY><STREAM href=\"http://x/\"/></BINARY>")) == k::unsupported);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<BINARY><STREAM encoding=\"gzip\">AAAA</STREAM></BINARY>")) ==
        k::unsupported);
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<BINARY><STREAM encoding=\"base64\">A*AA</STREAM></BINARY>")) ==
        k::malformed);
  // 3 bytes for a 4-byte int: the stream ends inside a row
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"int\"/>",
                       "<BINARY><STREAM encoding=\"base64\">" + base64("abc") +
                           "</STREAM></BINARY>")) == k::malformed);
  // a variable array claiming 4 billion elements must not allocate them
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"double\" arraysize=\"*\"/>",
                       "<BINARY><STREAM encoding=\"base64\">" + base64(be{}.u32(0xFFFFFFFF).s) +
                           "</STREAM></BINARY>")) == k::limit);
  CHECK(error_kind("<!DOCTYPE v [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
                   "\"&a;&a;&a;&a;&a;\">]><VOTABLE>&b;</VOTABLE>") == k::unsupported);
}

TEST_CASE("structure errors that would make rows ragged are refused") {
  using k = votable_error::kind;
  const std::string two =
      "<FIELD name=\"a\" datatype=\"int\"/><FIELD name=\"b\" datatype=\"int\"/>";
  CHECK(error_kind(doc(two, "<TABLEDATA><TD>1</TD></TABLEDATA>")) == k::malformed);
  CHECK(error_kind(doc(two, "<TABLEDATA><TR><TD>1</TD><TR><TD>2</TD></TR></TR></TABLEDATA>")) ==
        k::malformed);
  CHECK(error_kind("<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" "
                   "datatype=\"int\"/><DATA><TABLEDATA><TR><TD>1</TD></TR>"
                   "</TABLEDATA></DATA><FIELD name=\"b\" "
                   "datatype=\"int\"/><DATA><TABLEDATA><TR><TD>2</TD></TR>"
                   "</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>") == k::malformed);
  // two DATA blocks under the same FIELDs are simply more rows
  auto r = parse_votable(
      "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" "
      "datatype=\"int\"/><DATA><TABLEDATA><TR><TD>1</TD></TR>"
      "</TABLEDATA></DATA><DATA><TABLEDATA><TR><TD>2</TD></TR></TABLEDATA></DATA></TABLE></"
      "RESOURCE></VOTABLE>");
  CHECK(r.row_count == 2);
  CHECK(r.cells.size() == 2);
}

TEST_CASE("limits: document size, rows, fields and cell bytes are bounded") {
  using k = votable_error::kind;
  std::string rows;
  for (int i = 0; i < 20; ++i) rows += "<TR><TD>" + std::to_string(i) + "</TD></TR>";
  auto d = doc("<FIELD name=\"a\" datatype=\"int\"/>", "<TABLEDATA>" + rows + "</TABLEDATA>");
  votable_limits l;
  l.max_rows = 19;
  CHECK(error_kind(d, l) == k::limit);
  l.max_rows = 20;
  CHECK(parse_votable(d, l).row_count == 20);
  l.max_document_bytes = d.size() - 1;
  CHECK(error_kind(d, l) == k::limit);
  votable_limits f;
  f.max_fields = 1;
  CHECK(error_kind(
            doc("<FIELD name=\"a\" datatype=\"int\"/><FIELD name=\"b\" datatype=\"int\"/>", ""),
            f) == k::limit);
  votable_limits c;
  c.max_cell_bytes = 8;
  CHECK(error_kind(doc("<FIELD name=\"a\" datatype=\"char\" arraysize=\"*\"/>",
                       "<TABLEDATA><TR><TD>0123456789</TD></TR></TABLEDATA>"),
                   c) == k::limit);
  try {
    (void)parse_votable(d, l);
  } catch (const votable_error& e) {
    CHECK(std::string(e.what()).find("exceeds the limit") != std::string::npos);
  }
}

TEST_CASE("canonical JSON keeps doubles as doubles and infinities as strings") {
  auto r = parse_votable(
      doc("<FIELD name=\"d\" datatype=\"double\"/><FIELD name=\"s\" datatype=\"char\" "
          "arraysize=\"*\"/>",
          "<TABLEDATA><TR><TD>2</TD><TD>a\"b</TD></TR><TR><TD>-Inf</TD><TD/></TR></TABLEDATA>"));
  auto j = votable_canonical_json(r);
  CHECK(j.find("[2.0,\"a\\\"b\"]") != std::string::npos);
  CHECK(j.find("[\"-Inf\",null]") != std::string::npos);
}

namespace {

// The document read with and without the fast TABLEDATA scan: the same result, or the same
// error. Returns whether the fast scan read it.
bool same_both_ways(const std::string& d, const votable_limits& base = {}) {
  auto fast = base, full = base;
  fast.fast_tabledata = true;
  full.fast_tabledata = false;
  auto before = votable_fast_tabledata_count();
  std::string fast_out, full_out;
  for (auto [l, out] : {std::pair{&fast, &fast_out}, std::pair{&full, &full_out}}) {
    try {
      auto r = parse_votable(d, *l);
      *out = votable_canonical_json(r) + "|" + r.query_status + "|" + r.serialization + "|" +
             std::to_string(r.resources.size()) + "|" + std::to_string(r.truncated);
    } catch (const votable_error& e) {
      *out = "error " + std::to_string(static_cast<int>(e.code())) + ": " + e.what();
    }
  }
  CHECK_MESSAGE(fast_out == full_out, d);
  return votable_fast_tabledata_count() > before;
}

}  // namespace

TEST_CASE("the fast TABLEDATA scan reads plain rows as expat does, and leaves the rest to it") {
  const std::string fields =
      "<FIELD name=\"s\" datatype=\"char\" arraysize=\"*\"/><FIELD name=\"n\" datatype=\"long\">"
      "<VALUES null=\"-1\"/></FIELD><FIELD name=\"x\" datatype=\"double\"/>"
      "<FIELD name=\"b\" datatype=\"boolean\"/>";
  auto td = [&](const std::string& rows) {
    return doc(fields, "<TABLEDATA>" + rows + "</TABLEDATA>");
  };
  // Read by the fast scan: plain text, the five named entities, empty and self-closed cells,
  // short rows, whitespace (CR LF included) between tags, an empty body.
  for (const std::string& rows :
       {std::string("<TR><TD>a</TD><TD>1</TD><TD>2.5</TD><TD>T</TD></TR>"),
        std::string("\r\n  <TR>\n\t<TD>x&amp;y=&lt;z&gt; &quot;q&quot; &apos;</TD><TD>-1</TD>"
                    "<TD>NaN</TD><TD>?</TD></TR>\r\n"),
        std::string("<TR><TD/><TD></TD><TD>-Inf</TD><TD>false</TD></TR><TR><TD>only</TD></TR>"),
        std::string(
            "<TR><TD>http://x/q?a=1&amp;b=2</TD><TD> 42 </TD><TD>1e300</TD><TD>1</TD></TR>"),
        std::string("<TR><TD>tab\there\nnewline ]] > ]</TD></TR>"), std::string("")}) {
    CHECK_MESSAGE(same_both_ways(td(rows)), rows);
  }
  auto r = parse_votable(td("<TR><TD>x&amp;y=&lt;z&gt;</TD><TD>-1</TD><TD>2</TD><TD>T</TD></TR>"));
  REQUIRE(r.row_count == 1);
  CHECK(r.cells[0] == json::value("x&y=<z>"));
  CHECK(r.cells[1].is_null());
  CHECK(r.cells[3] == json::value(true));

  // Left to expat (same result or error, not read by the fast scan): comments, CDATA,
  // character references, attributes, text between cells, non-ASCII, CR in a cell, "]]>",
  // unknown entities, mismatched or unclosed tags, a cell too many, a cell past the limit.
  for (const std::string& rows :
       {std::string("<TR><!-- c --><TD>a</TD></TR>"),
        std::string("<TR><TD><![CDATA[<b>]]></TD></TR>"),
        std::string("<TR><TD>&#65;&#x42;</TD></TR>"), std::string("<TR ID=\"r1\"><TD>a</TD></TR>"),
        std::string("<TR>stray<TD>a</TD></TR>"), std::string("<TR><TD>caf\xc3\xa9</TD></TR>"),
        std::string("<TR><TD>bad \xff byte</TD></TR>"), std::string("<TR><TD>a\rb</TD></TR>"),
        std::string("<TR><TD>a]]>b</TD></TR>"), std::string("<TR><TD>&nbsp;</TD></TR>"),
        std::string("<TR><TD>a</TR>"), std::string("<TR><TD>a</TD>"), std::string("<TD>a</TD>"),
        std::string("<TR><TR></TR></TR>"),
        std::string("<TR><TD>1</TD><TD>2</TD><TD>3</TD><TD>T</TD><TD>5</TD></TR>"),
        std::string("<TR><TD>a</TD><TD>not a number</TD></TR>"),
        std::string("<TR><TD>a\x01</TD></TR>")}) {
    CHECK_MESSAGE(!same_both_ways(td(rows)), rows);
  }
  votable_limits small;
  small.max_cell_bytes = 4;
  CHECK_FALSE(same_both_ways(td("<TR><TD>12345</TD></TR>"), small));
  small = {};
  small.max_rows = 1;
  CHECK_FALSE(same_both_ways(td("<TR><TD>a</TD></TR><TR><TD>b</TD></TR>"), small));

  // The search finds a <TABLEDATA> in a comment first, or the first table is not TABLEDATA:
  // expat reads the document, with the same result.
  CHECK_FALSE(same_both_ways("<VOTABLE><!-- <TABLEDATA> --><RESOURCE><TABLE>" + fields +
                             "<DATA><TABLEDATA><TR><TD>a</TD></TR></TABLEDATA></DATA></TABLE>"
                             "</RESOURCE></VOTABLE>"));
  CHECK_FALSE(same_both_ways("<VOTABLE><RESOURCE><TABLE>" + fields +
                             "<DATA><BINARY2><STREAM encoding=\"base64\"></STREAM></BINARY2></DATA>"
                             "</TABLE><TABLE>" +
                             fields +
                             "<DATA><TABLEDATA><TR><TD>a</TD></TR></TABLEDATA></DATA></TABLE>"
                             "</RESOURCE></VOTABLE>"));
  // An error after the body, and QUERY_STATUS=ERROR after it: expat's error, with its line.
  CHECK_FALSE(same_both_ways(td("<TR><TD>a</TD></TR>") + "<broken"));
  CHECK_FALSE(same_both_ways(doc(fields, "<TABLEDATA><TR><TD>a</TD></TR></TABLEDATA>",
                                 "<INFO name=\"QUERY_STATUS\" value=\"ERROR\">late</INFO>")));
}
