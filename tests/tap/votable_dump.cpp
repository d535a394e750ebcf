// beampipe_votable_dump FILE...: prints each VOTable as canonical JSON (one document per
// file), or {"error": "<kind>", "message": "..."} when it cannot be read. Used by the
// differential test against astropy.
#include "adapters/votable.hpp"

#include <fstream>
#include <iostream>
#include <sstream>

int main(int argc, char** argv) {
  using namespace beampipe::adapters;
  if (argc < 2) {
    std::cerr << "usage: beampipe_votable_dump FILE...\n";
    return 2;
  }
  int rc = 0;
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::cerr << "cannot open " << argv[i] << "\n";
      return 2;
    }
    std::stringstream buf;
    buf << in.rdbuf();
    try {
      std::cout << votable_canonical_json(parse_votable(buf.str()));
    } catch (const votable_error& e) {
      static const char* kinds[] = {"malformed", "query_error", "limit", "unsupported"};
      std::string msg = e.what();
      std::string escaped;
      for (char c : msg) {
        if (c == '"' || c == '\\') escaped.push_back('\\');
        if (static_cast<unsigned char>(c) >= 0x20) escaped.push_back(c);
      }
      std::cout << "{\"error\":\"" << kinds[static_cast<int>(e.code())] << "\",\"message\":\"" << escaped << "\"}\n";
      rc = 1;
    }
  }
  return rc;
}
