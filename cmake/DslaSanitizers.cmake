# Global sanitizer flags from DSLA_SANITIZE (e.g. "address;undefined"); LibTorch itself stays uninstrumented.
if(DSLA_SANITIZE)
  list(JOIN DSLA_SANITIZE "," _dsla_san)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_dsla_san}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>
                      # vptr checks misfire on LibTorch's uninstrumented RTTI across shared objects.
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize=vptr>)
  add_link_options(-fsanitize=${_dsla_san})
endif()
