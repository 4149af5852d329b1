# embed_files.cmake - turn the files of a folder into a C array of
# {name, text} built into a program: the mail templates and the message
# catalogs. Names are relative to the folder ("de/notify.txt"); each text ends
# in a NUL. Run as:
#   cmake -DOUT=file.c -DDIR=dir -DTYPE=struct_name -DARRAY=array_name -P embed_files.cmake
file(GLOB_RECURSE files RELATIVE "${DIR}" "${DIR}/*")
list(FILTER files EXCLUDE REGEX "(^|/)\\.")
list(SORT files)
set(body "/* generated from ${DIR} by store/embed_files.cmake: do not edit */\n")
string(APPEND body "struct ${TYPE} {\n    const char *name;\n    const char *text;\n};\n")
set(entries "")
set(i 0)
foreach(name ${files})
  file(READ "${DIR}/${name}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char t${i}[] = {${hex} 0x00};\n")
  string(APPEND entries "    {\"${name}\", t${i}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "extern const struct ${TYPE} ${ARRAY}[];\n")
string(APPEND body "const struct ${TYPE} ${ARRAY}[] = {\n${entries}    {0, 0},\n};\n")
file(WRITE "${OUT}.tmp" "${body}")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
