/* Error codes shared by every module: 0 is success, anything else is one
 * of the negative codes below. One list, one strerror. */
#ifndef SAGERUN_ERROR_H
#define SAGERUN_ERROR_H

#define SR_ERRORS(XX)                                                          \
  XX(ENOMEM, -1, "out of memory")                                              \
  XX(EINVAL, -2, "invalid argument")                                           \
  XX(EIO, -3, "input/output error")                                            \
  XX(ENOENT, -4, "no such file or directory")                                  \
  XX(ETOOBIG, -5, "value too large")                                           \
  XX(EPARSE, -6, "syntax error")                                               \
  XX(EINVALID, -7, "invalid workflow")                                         \
  XX(EUNKNOWN, -8, "value known only at run time")                             \
  XX(ECANCELED, -9, "operation canceled")                                      \
  XX(ENOTSUP, -10, "not supported")                                            \
  XX(EEXIST, -11, "already exists")                                            \
  XX(ETIMEDOUT, -12, "timed out")                                              \
  XX(ECONN, -13, "connection failed")

enum sr_error {
#define XX(name, code, text) SR_##name = (code),
  SR_ERRORS(XX)
#undef XX
};

/* Text for an error code; never NULL, also for codes outside the list. */
const char *sr_strerror(int code);

#endif
