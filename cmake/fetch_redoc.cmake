# Fetches redoc@VERSION from the npm registry into DIR and checks the tarball's SHA-256.
# Build time only: the bundle is embedded in the binary (cmake/redoc_embedded.S.in), so the
# API reference page works offline and npm is never needed at run time.
#   cmake -DNPM=npm -DVERSION=x.y.z -DSHA256=<hex> -DDIR=<dir> -P fetch_redoc.cmake
foreach(var NPM VERSION SHA256 DIR)
  if(NOT ${var})
    message(FATAL_ERROR "fetch_redoc.cmake: -D${var}= is required")
  endif()
endforeach()
set(tgz "${DIR}/redoc-${VERSION}.tgz")
set(have "")
if(EXISTS "${tgz}")
  file(SHA256 "${tgz}" have)
endif()
if(NOT have STREQUAL SHA256)
  file(MAKE_DIRECTORY "${DIR}")
  execute_process(COMMAND "${NPM}" pack "redoc@${VERSION}" --pack-destination "${DIR}" --silent
                  WORKING_DIRECTORY "${DIR}" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT EXISTS "${tgz}")
    message(FATAL_ERROR "npm pack redoc@${VERSION} failed (the npm registry must be reachable "
                        "at build time): ${err}")
  endif()
  file(SHA256 "${tgz}" have)
  if(NOT have STREQUAL SHA256)
    file(REMOVE "${tgz}")
    message(FATAL_ERROR "redoc-${VERSION}.tgz has SHA-256 ${have}, expected ${SHA256}")
  endif()
endif()
file(REMOVE_RECURSE "${DIR}/package")
# TOUCH: the tarball's 1985 mtimes would make the outputs look stale on every build.
file(ARCHIVE_EXTRACT INPUT "${tgz}" DESTINATION "${DIR}" TOUCH
     PATTERNS package/bundles/redoc.standalone.js package/bundles/redoc.standalone.js.LICENSE.txt
              package/LICENSE)
foreach(f bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt)
  if(NOT EXISTS "${DIR}/package/${f}")
    message(FATAL_ERROR "redoc-${VERSION}.tgz has no ${f}")
  endif()
endforeach()
