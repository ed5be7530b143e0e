# kvfunda_embed_files(<target> <namespace_name> <files...>)
# Generates a C++ source that holds each file's bytes, so the binary carries its
# SQL migrations and dashboard assets. It defines, in namespace kvfunda::embedded:
#   struct EmbeddedFile { const char* name; const unsigned char* data; size_t size; };
#   const EmbeddedFile* <namespace_name>_files(); size_t <namespace_name>_count();
# (declared in coordinator/base/embedded.h). Files are sorted by name.
function(kvfunda_embed_files target name)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${name}_embedded.cc)
  set(files ${ARGN})
  list(SORT files)
  # A list argument would be split into separate arguments: pass it "|"-joined.
  list(JOIN files "|" files_arg)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAME=${name} "-DFILES=${files_arg}"
            -P ${CMAKE_SOURCE_DIR}/scripts/cmake/embed_run.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/scripts/cmake/embed_run.cmake
    COMMENT "Embedding ${name} files"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
