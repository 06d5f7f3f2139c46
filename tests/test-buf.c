#include "../runner/buf.h"
#include "../runner/error.h"
#include "test.h"

TEST(buf_empty_is_terminated)
{
  struct buf b;

  buf_init(&b, 16);
  ASSERT_STR_EQ("", buf_str(&b));
  ASSERT_EQ(0, buf_len(&b));
  buf_free(&b);
}

TEST(buf_grows_and_formats)
{
  struct buf b;
  char *s;
  size_t len;
  int i;

  buf_init(&b, BUF_CAP_DEFAULT);
  for (i = 0; i < 1000; i++)
    ASSERT_EQ(0, buf_addf(&b, "%d,", i % 10));
  ASSERT_EQ(2000, buf_len(&b));
  ASSERT(strncmp(buf_str(&b), "0,1,2,", 6) == 0);
  s = buf_detach(&b, &len);
  ASSERT_EQ(2000, len);
  ASSERT_EQ(0, buf_len(&b));
  ASSERT_STR_EQ("", buf_str(&b));
  free(s);
}

TEST(buf_cap_frees_on_failure)
{
  struct buf b;

  buf_init(&b, 8);
  ASSERT_EQ(0, buf_adds(&b, "12345678"));
  ASSERT_EQ(SR_ETOOBIG, buf_addc(&b, '9'));
  ASSERT_EQ(0, buf_len(&b));
  ASSERT_EQ(0, buf_adds(&b, "ok"));
  ASSERT_STR_EQ("ok", buf_str(&b));
  buf_truncate(&b, 1);
  ASSERT_STR_EQ("o", buf_str(&b));
  buf_free(&b);
}
