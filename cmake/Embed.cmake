# embed_files(NAME OUTPUT file.cpp FILES f1 f2 ... GLOB_DIRS dir1 ...)
# Generates a C++ source that defines dine::embedded::find(path) over the given
# files (paths relative to the source tree), so the binary carries its default
# topology and its SQL migrations.
function(embed_files name)
  cmake_parse_arguments(E "" "OUTPUT" "FILES;GLOB_DIRS" ${ARGN})
  set(files ${E_FILES})
  foreach(dir ${E_GLOB_DIRS})
    file(GLOB_RECURSE found CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/${dir}/*)
    list(APPEND files ${found})
  endforeach()
  list(SORT files)
  set(abs_files "")
  foreach(f ${files})
    list(APPEND abs_files ${CMAKE_SOURCE_DIR}/${f})
  endforeach()
  string(REPLACE ";" "|" files_arg "${files}")
  add_custom_command(
    OUTPUT ${E_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUTPUT} -DROOT=${CMAKE_SOURCE_DIR} "-DFILES=${files_arg}"
            -P ${CMAKE_SOURCE_DIR}/cmake/EmbedGenerate.cmake
    DEPENDS ${abs_files} ${CMAKE_SOURCE_DIR}/cmake/EmbedGenerate.cmake
    COMMENT "Embedding ${name}"
    VERBATIM)
endfunction()
