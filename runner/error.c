#include "error.h"

const char *sr_strerror(int code)
{
  switch (code) {
  case 0:
    return "success";
#define XX(name, value, text)                                                  \
  case value:                                                                  \
    return text;
    SR_ERRORS(XX)
#undef XX
  default:
    return "unknown error";
  }
}
