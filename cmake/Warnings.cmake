# ckpt_warnings: an interface target carrying the project's warning flags.
# Link it PRIVATE into every first-party target; third-party headers are included as SYSTEM.
add_library(ckpt_warnings INTERFACE)
target_compile_options(ckpt_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wshadow -Wconversion -Wsign-conversion
                                 -Wnon-virtual-dtor -Wold-style-cast -Woverloaded-virtual>)
if(CKPT_WARNINGS_AS_ERRORS)
  target_compile_options(ckpt_warnings INTERFACE $<$<CXX_COMPILER_ID:GNU,Clang>:-Werror>)
endif()
