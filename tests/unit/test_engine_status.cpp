// The live status line: pure formatting and the stream buffer that erases it before ordinary
// output (written into a string buffer here; fd -1 is not a terminal, so the width is 79).
#include <gtest/gtest.h>

#include <ostream>
#include <sstream>

#include "iommuvm/engine/status_line.hpp"

using iommuvm::engine::LiveStatus;
using iommuvm::engine::status_line;

TEST(StatusLine, CountsRunAndStep) {
  EXPECT_EQ(status_line(3, 12, "redis-strict-r1", "client.measure: redis-benchmark on client", 0),
            "[3/12] redis-strict-r1 · client.measure: redis-benchmark on client");
  EXPECT_EQ(status_line(0, 4, "", "host.reboot: server", 0), "[0/4] host.reboot: server") << "steps between runs name no run";
}

TEST(StatusLine, CutToTheWidthCountingCodePointsAndNoNewlines) {
  std::string s = status_line(1, 2, "r", "a step\nwith a newline and a long tail", 20);
  EXPECT_EQ(s, "[1/2] r · a step wi…");
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_EQ(status_line(1, 2, "r", "x", 20), "[1/2] r · x") << "short enough: untouched";
}

TEST(LiveStatus, OrdinaryOutputErasesTheStatusFirst) {
  std::stringbuf sink;
  LiveStatus live(&sink, -1);
  std::ostream out(&live);
  live.set_status("[1/2] r1 · client.measure");
  out << "[1/2] r1 ok 100 ops/s\n";
  out.flush();
  EXPECT_EQ(sink.str(), "\r\033[K[1/2] r1 · client.measure\r\033[K[1/2] r1 ok 100 ops/s\n");
  out << "more\n";
  out.flush();
  EXPECT_EQ(sink.str().substr(sink.str().size() - 5), "more\n") << "no second erase once the status is gone";
  live.set_status(std::string(200, 'x'));
  std::string last = sink.str().substr(sink.str().rfind("\033[K") + 3);
  EXPECT_EQ(last, std::string(78, 'x') + "…") << "cut to the width so the line never wraps";
  live.clear();
  EXPECT_EQ(sink.str().substr(sink.str().size() - 4), "\r\033[K");
}
