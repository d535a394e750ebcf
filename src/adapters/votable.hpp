// VOTable reader (VOTable 1.1–1.5, DALI) for TAP results: TABLEDATA, BINARY and BINARY2.
//
// Streams the document through expat and decodes cells straight into a flat, row-major
// vector of boost::json values:
//   null                  TD empty, VALUES/@null sentinel, NaN, BINARY2 null flag, boolean '?'
//   bool                  boolean, bit
//   int64                 unsignedByte, short, int, long
//   double                float, double (±Inf kept)
//   string                char / unicodeChar with any arraysize ("10", "*", "10*"), as UTF-8
//   [re, im]              floatComplex, doubleComplex
//   array                 any other arraysize; multi-dimensional arrays are flattened in
//                         document order (first index fastest); char "10x3" → 3 strings
// Element nulls inside arrays (sentinel, NaN) become null elements.
//
// INFO name="QUERY_STATUS" value="ERROR" anywhere is a query failure (votable_error with
// kind::query_error and the INFO's text), whatever the HTTP status; OVERFLOW sets truncated.
// Every failure is a votable_error; limits bound memory on hostile documents.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace beampipe::adapters {

class votable_error : public std::runtime_error {
 public:
  enum class kind {
    malformed,    // not XML, not a VOTable, or a cell that does not fit its datatype
    query_error,  // QUERY_STATUS=ERROR: the service says the query failed
    limit,        // a configured bound was exceeded
    unsupported,  // FITS data, STREAM href, gzip encoding
  };
  votable_error(kind k, const std::string& message) : std::runtime_error(message), kind_(k) {}
  kind code() const noexcept { return kind_; }

 private:
  kind kind_;
};

struct votable_limits {
  std::size_t max_document_bytes = std::size_t{512} << 20;
  std::size_t max_rows = 5'000'000;
  std::size_t max_fields = 2'000;
  std::size_t max_cells = 100'000'000;                 // rows × fields
  std::size_t max_cell_bytes = std::size_t{16} << 20;  // one TD's text or one binary array
  // Scan a TABLEDATA body that holds only plain TR/TD markup (ASCII text, the five named
  // entities) without expat: the same result, about twice as fast. Anything else in it, or any
  // error, and the whole document goes through expat instead. Off: always expat (tests compare).
  bool fast_tabledata = true;
};

struct votable_field {
  std::string name;  // FIELD/@name, or @ID when name is missing
  std::string id;
  std::string datatype;
  std::string arraysize;
  std::string ucd;
  std::string unit;
  std::string xtype;
  std::optional<std::string> null_value;  // VALUES/@null as written
};

// PARAM as written (DataLink service descriptors, TAP metadata). `ref` names a FIELD/@ID.
struct votable_param {
  std::string name;
  std::string id;
  std::string ref;
  std::string value;
  std::string datatype;
  std::string arraysize;
  std::string ucd;
  std::string utype;
  std::string xtype;
};

// A GROUP directly inside a RESOURCE, with its direct PARAM children.
struct votable_group {
  std::string name;
  std::string id;
  std::string ref;
  std::vector<votable_param> params;
};

// Every RESOURCE of the document (nested ones too) in document order, with the PARAMs and
// GROUPs that are its direct children: enough to resolve DataLink service descriptors.
struct votable_resource {
  std::string id;
  std::string name;
  std::string type;
  std::string utype;
  std::vector<votable_param> params;
  std::vector<votable_group> groups;
};

struct votable_result {
  std::vector<votable_field> fields;
  std::vector<boost::json::value> cells;  // row-major, fields.size() per row
  std::size_t row_count = 0;
  bool truncated = false;                   // QUERY_STATUS=OVERFLOW seen
  std::string query_status;                 // last QUERY_STATUS value seen ("" when none)
  std::string serialization;                // "TABLEDATA", "BINARY", "BINARY2" or "" (no DATA)
  std::vector<votable_resource> resources;  // document order; see votable_resource

  std::span<const boost::json::value> row(std::size_t i) const {
    return {cells.data() + i * fields.size(), fields.size()};
  }
  // Index of the field whose name equals `name` ignoring ASCII case (ADQL identifiers are
  // case-insensitive, services keep the declared case); nullopt when absent.
  std::optional<std::size_t> column(std::string_view name) const;
  // Index of the field whose XML ID equals `id` exactly (PARAM/@ref targets).
  std::optional<std::size_t> column_by_id(std::string_view id) const;
  // The first RESOURCE whose ID equals `id`, or nullptr.
  const votable_resource* resource_by_id(std::string_view id) const;
  // Row i as a JSON object keyed by field name.
  boost::json::object row_object(std::size_t i) const;
};

// Parses a whole VOTable document. Throws votable_error only.
votable_result parse_votable(std::string_view document, const votable_limits& limits = {});
// Documents (process-wide) whose TABLEDATA the fast scan read (votable_limits::fast_tabledata).
std::uint64_t votable_fast_tabledata_count();

// Canonical JSON of a result ({"fields":[...],"rows":[[...]],"truncated":b}) with doubles
// in shortest round-trip form and ±Inf as the strings "+Inf"/"-Inf"; used by the dump CLI
// and the differential test against astropy.
std::string votable_canonical_json(const votable_result& result);

}  // namespace beampipe::adapters
