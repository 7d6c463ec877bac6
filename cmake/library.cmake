# The installable library: shared libreco and libreco-report made from the
# static archives, their exported symbols, pkg-config files, man pages,
# bash completion and the install rules (`make install`; docs/library.md).
# Kept apart from the build of the code itself in CMakeLists.txt.

# The shared libraries: the whole static archive (position-independent
# code) linked into one .so with a soname of the major version. Only the
# public API is exported, through a linker version script generated from
# the public headers (cmake/export-map.cmake says why a version script).
file(GLOB RECO_PUBLIC_HEADERS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/reco/*.h)
set(RECO_REPORT_HEADERS ${PROJECT_SOURCE_DIR}/include/reco/chart.h
                        ${PROJECT_SOURCE_DIR}/include/reco/explore.h)
set(RECO_CORE_HEADERS ${RECO_PUBLIC_HEADERS} ${PROJECT_BINARY_DIR}/include/reco/version.h)
list(REMOVE_ITEM RECO_CORE_HEADERS ${RECO_REPORT_HEADERS})

# A shared library needs a source of its own; its code is all in the archive.
file(WRITE ${PROJECT_BINARY_DIR}/reco_shared.c
     "/* The code is in the static archive linked whole. */\ntypedef int reco_shared_empty;\n")

function(reco_shared_library target archive output node map)
  set(headers ${ARGN})
  add_custom_command(OUTPUT ${map}
    COMMAND ${CMAKE_COMMAND} -DOUT=${map} -DNODE=${node} "-DHEADERS=${headers}"
            -P ${PROJECT_SOURCE_DIR}/cmake/export-map.cmake
    DEPENDS ${headers} ${PROJECT_SOURCE_DIR}/cmake/export-map.cmake
    COMMENT "Generating ${output} symbol map" VERBATIM)
  add_custom_target(${target}_map DEPENDS ${map})
  add_library(${target} SHARED ${PROJECT_BINARY_DIR}/reco_shared.c)
  add_dependencies(${target} ${target}_map)
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${output} LINKER_LANGUAGE C
    VERSION ${PROJECT_VERSION} SOVERSION ${RECO_SOVERSION} LINK_DEPENDS ${map})
  target_link_libraries(${target} PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,${archive}>")
  target_link_options(${target} PRIVATE -Wl,--version-script=${map} -Wl,--no-undefined)
endfunction()

# The soname's version: the major version; while it is 0 (the interface
# still settling, so a minor release may change it), 0.MINOR, so that a
# program never runs against a 0.x library it was not built for.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(RECO_SOVERSION 0.${PROJECT_VERSION_MINOR})
else()
  set(RECO_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()

reco_shared_library(reco_shared reco_lib reco RECO_${PROJECT_VERSION_MAJOR}
                    ${PROJECT_BINARY_DIR}/libreco.map ${RECO_CORE_HEADERS})
reco_shared_library(reco_report_shared reco_report reco-report RECO_REPORT_${PROJECT_VERSION_MAJOR}
                    ${PROJECT_BINARY_DIR}/libreco-report.map ${RECO_REPORT_HEADERS})
# libreco-report uses the core library's private number formatting
# (src/lib/core/numfmt.c), which libreco does not export: the shared
# report library carries its own hidden copy of that object. It links the
# shared libreco for everything else.
target_sources(reco_report_shared PRIVATE ${PROJECT_SOURCE_DIR}/src/lib/core/numfmt.c)
target_include_directories(reco_report_shared PRIVATE ${PROJECT_SOURCE_DIR}/src/lib/core)
target_link_libraries(reco_report_shared PRIVATE reco_shared PkgConfig::PLPLOT)

# pkg-config files. The prefix is found from the .pc file's own place, so
# that an installed tree can be moved (DESTDIR, --prefix at install time).
file(RELATIVE_PATH RECO_PC_PREFIX /p/${CMAKE_INSTALL_LIBDIR}/pkgconfig /p)
string(REGEX REPLACE "/$" "" RECO_PC_PREFIX "\${pcfiledir}/${RECO_PC_PREFIX}")
set(RECO_PC_REQUIRES_PRIVATE "openblas lapacke arpack")
if(RECO_WITH_POSTGRESQL AND LIBPQ_FOUND)
  string(APPEND RECO_PC_REQUIRES_PRIVATE " libpq")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/reco.pc.in ${PROJECT_BINARY_DIR}/reco.pc @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/cmake/reco-report.pc.in ${PROJECT_BINARY_DIR}/reco-report.pc @ONLY)

install(TARGETS reco RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS reco_lib reco_report reco_shared reco_report_shared
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${RECO_PUBLIC_HEADERS} ${PROJECT_BINARY_DIR}/include/reco/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/reco)
install(FILES ${PROJECT_BINARY_DIR}/reco.pc ${PROJECT_BINARY_DIR}/reco-report.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Bash completion: the script asks reco for its commands and options.
install(FILES ${PROJECT_SOURCE_DIR}/scripts/reco-completion.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME reco)

# Man pages: reco.1 and reco-CMD.1 for each command, from the --help texts
# (scripts/gen-man.sh, with help2man), regenerated when reco changes.
find_program(RECO_HELP2MAN help2man)
if(RECO_HELP2MAN)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/man/reco.1
    COMMAND sh ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh $<TARGET_FILE:reco>
            ${PROJECT_BINARY_DIR}/man ${PROJECT_VERSION}
    DEPENDS reco ${PROJECT_SOURCE_DIR}/scripts/gen-man.sh
    COMMENT "Generating the man pages" VERBATIM)
  add_custom_target(man ALL DEPENDS ${PROJECT_BINARY_DIR}/man/reco.1)
  install(DIRECTORY ${PROJECT_BINARY_DIR}/man/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
          FILES_MATCHING PATTERN "*.1")
else()
  message(STATUS "help2man not found: the man pages are not generated (scripts/install-deps.sh installs it)")
endif()
