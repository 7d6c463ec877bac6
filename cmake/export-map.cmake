# Writes a linker version script that exports exactly the functions and
# objects declared in the given public headers, and hides everything else.
#   cmake -DOUT=file.map -DNODE=RECO_0 -DHEADERS="a.h;b.h" -P export-map.cmake
#
# Why a version script generated from the headers rather than a RECO_API
# macro on each declaration with -fvisibility=hidden: the public headers
# already are the list of what is public (internal helpers such as the
# kernels, allocation and file I/O are declared in private headers under
# src/lib), so the list cannot drift from the headers and no declaration
# needs a marker that is easy to forget. The names match reco_* followed by
# "(" (functions) or declared extern (tables of parameters, algorithms);
# names that are not defined in the library (static inline functions,
# words in comments) are ignored by the linker.
cmake_policy(SET CMP0007 NEW)
set(names "")
foreach(h IN LISTS HEADERS)
  file(READ "${h}" text)
  # Comments out: they name functions of other modules.
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" " " text "${text}")
  # ";" separates the elements of a CMake list: "@" stands for it here.
  string(REPLACE ";" "@" text "${text}")
  string(REGEX MATCHALL "reco_[a-z0-9_]+[ \t\r\n]*\\(" calls "${text}")
  foreach(c IN LISTS calls)
    string(REGEX REPLACE "[ \t\r\n]*\\($" "" c "${c}")
    list(APPEND names "${c}")
  endforeach()
  string(REGEX MATCHALL "extern[^@(){}]*[ *]reco_[a-z0-9_]+[ \t]*(\\[[A-Za-z0-9_ ]*\\])?@" objs "${text}")
  foreach(o IN LISTS objs)
    string(REGEX MATCH "reco_[a-z0-9_]+[ \t]*(\\[[A-Za-z0-9_ ]*\\])?@$" o "${o}")
    string(REGEX REPLACE "[ \t]*(\\[[A-Za-z0-9_ ]*\\])?@$" "" o "${o}")
    list(APPEND names "${o}")
  endforeach()
endforeach()
list(REMOVE_DUPLICATES names)
list(SORT names)
set(out "/* Generated from the public headers by cmake/export-map.cmake. */\n${NODE} {\n  global:\n")
foreach(n IN LISTS names)
  string(APPEND out "    ${n};\n")
endforeach()
string(APPEND out "  local:\n    *;\n};\n")
# Rewritten only when it changes, so that the libraries are not relinked
# for a change of a comment.
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL out)
  file(WRITE "${OUT}" "${out}")
endif()
