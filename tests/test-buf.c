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

TEST(buf_format_across_the_allocation)
{
  struct buf b;
  char big[300];
  int i;

  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = '\0';
  buf_init(&b, 1 << 20);
  /* Small adds fill the allocation, then one larger than what is left. */
  for (i = 0; i < 10; i++)
    ASSERT_EQ(0, buf_addf(&b, "%d", i));
  ASSERT_EQ(0, buf_addf(&b, "<%s>", big));
  ASSERT_EQ(10 + 2 + 299, buf_len(&b));
  ASSERT(strncmp(buf_str(&b), "0123456789<xxx", 14) == 0);
  ASSERT_EQ('>', buf_str(&b)[buf_len(&b) - 1]);
  ASSERT_EQ('\0', buf_str(&b)[buf_len(&b)]);
  buf_free(&b);
  /* At the cap: a format that would pass it fails and frees. */
  buf_init(&b, 8);
  ASSERT_EQ(0, buf_addf(&b, "%s", "1234"));
  ASSERT_EQ(SR_ETOOBIG, buf_addf(&b, "%s", "56789"));
  ASSERT_EQ(0, buf_len(&b));
  buf_free(&b);
}
