# Writes a C++ source that embeds every schema/*.sql migration, so the binary carries its
# own migrations wherever it is installed.
file(GLOB files "${SCHEMA_DIR}/*.sql")
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  string(REGEX MATCH "^[0-9]+" num "${name}")
  math(EXPR num "${num}")
  file(READ ${f} sql)
  string(APPEND body "    {${num}, \"${name}\", R\"__BEAMPIPE_SQL__(${sql})__BEAMPIPE_SQL__\"},\n")
endforeach()
file(WRITE "${OUT}.tmp" "// Generated from schema/*.sql by cmake/embed_schema.cmake. Do not edit.\n#include \"store/migrations.hpp\"\n\nnamespace beampipe::store {\n\nconst std::vector<migration>& embedded_migrations() {\n  static const std::vector<migration> all = {\n${body}  };\n  return all;\n}\n\n}  // namespace beampipe::store\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
