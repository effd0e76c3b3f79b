// The progress bar's rate text: units per second at one a second or more, seconds per unit below.
#include <gtest/gtest.h>

#include "core/progress.h"

TEST(Progress, SlowRatesReadAsSecondsPerUnit) {
  EXPECT_EQ(dsla::format_rate(2.5, "tok"), "2.5 tok/s");
  EXPECT_EQ(dsla::format_rate(1.0, "step"), "1.0 step/s");
  EXPECT_EQ(dsla::format_rate(1.0 / 31.0, "step"), "31.0 s/step");  // was "0.0 step/s"
  EXPECT_EQ(dsla::format_rate(0.0, "step"), "0.0 step/s");          // nothing done yet
}
