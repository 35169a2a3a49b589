// containerd_c.hpp on its own, as C++17 (-Wall -Wextra -Werror): it must
// compile without warnings, link, and throw containerd_c::Error (status,
// name, message) for failures that need no daemon.
#include "containerd_c.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <unistd.h>

namespace ctrd = containerd_c;

#define REQUIRE(cond)                                                    \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n", __FILE__,      \
                   __LINE__, #cond);                                     \
      std::exit(1);                                                      \
    }                                                                    \
  } while (0)

// Handles are move-only.
template <typename T>
constexpr bool move_only =
    !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
    std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>;
static_assert(move_only<ctrd::Client> && move_only<ctrd::Container> && move_only<ctrd::Task> &&
              move_only<ctrd::Process> && move_only<ctrd::Image> && move_only<ctrd::FifoSet> &&
              move_only<ctrd::IoSession> && move_only<ctrd::Subscription> && move_only<ctrd::Wait>);
static_assert(std::is_base_of_v<std::runtime_error, ctrd::Error>);

int main() {
  REQUIRE(ctrd::version() == ctrd_version());

  // A relative socket path: refused before any connection.
  bool thrown = false;
  try {
    ctrd::Client c("relative/containerd.sock");
  } catch (const ctrd::Error &e) {
    thrown = true;
    REQUIRE(e.status() == CTRD_ERR_INVALID_ARGUMENT);
    REQUIRE(e.name() == "CTRD_ERR_INVALID_ARGUMENT");
    REQUIRE(!e.message().empty());
    REQUIRE(std::string(e.what()) == e.name() + ": " + e.message());
  }
  REQUIRE(thrown);

  // Bad JSON for spec_patch.
  thrown = false;
  try {
    ctrd::spec_patch("not json", "{}");
  } catch (const ctrd::Error &e) {
    thrown = e.status() == CTRD_ERR_INVALID_ARGUMENT && e.message().find("spec_json") != std::string::npos;
  }
  REQUIRE(thrown);

  // A FIFO set (no daemon needed): made, moved, removed from disk when freed.
  std::string dir;
  {
    ctrd::FifoSet a("hpp-test", true, false);
    dir = a.dir();
    ctrd::Io io = a.io();
    REQUIRE(io.stdin_path.rfind(dir, 0) == 0 && !io.stdout_path.empty() && !io.terminal);
    ctrd::FifoSet b = std::move(a);
    REQUIRE(!a && b && b.dir() == dir);
    // A moved-from handle throws instead of passing NULL on.
    thrown = false;
    try {
      a.dir();
    } catch (const ctrd::Error &e) {
      thrown = e.status() == CTRD_ERR_INVALID_ARGUMENT;
    }
    REQUIRE(thrown);
    REQUIRE(access(dir.c_str(), F_OK) == 0);
  }
  REQUIRE(access(dir.c_str(), F_OK) != 0);

  std::printf("header_hpp: ok\n");
  return 0;
}
