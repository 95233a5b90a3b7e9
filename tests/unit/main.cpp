// The unit-test runner: Boost.Test's own main, plus a closing line "N passed, N failed,
// N skipped" counted over test cases, which tests/run-all.sh adds up.
#define BOOST_TEST_MODULE popup
#include <boost/test/results_collector.hpp>
#include <boost/test/tree/traverse.hpp>
#include <boost/test/tree/visitor.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdio>

namespace {

namespace utf = boost::unit_test;

// A case inside a skipped suite (a failed precondition) did not run, whatever its own
// results say.
bool suite_skipped(utf::test_unit_id id) {
  for (; id != utf::INV_TEST_UNIT_ID; id = utf::framework::get<utf::test_suite>(id).p_parent_id)
    if (utf::results_collector.results(id).p_skipped) return true;
  return false;
}

struct CaseCounter : utf::test_tree_visitor {
  unsigned long passed = 0, failed = 0, skipped = 0;
  void visit(const utf::test_case& tc) override {
    const utf::test_results& r = utf::results_collector.results(tc.p_id);
    if (r.p_skipped || suite_skipped(tc.p_parent_id))
      ++skipped;
    else if (r.passed())
      ++passed;
    else
      ++failed;
  }
};

// Prints the closing line once every test has run.
struct SummaryObserver : utf::test_observer {
  void test_finish() override {
    CaseCounter counter;
    utf::traverse_test_tree(utf::framework::master_test_suite(), counter, false);
    std::fflush(stdout);
    std::printf("%lu passed, %lu failed, %lu skipped\n", counter.passed, counter.failed,
                counter.skipped);
    std::fflush(stdout);
  }
  int priority() override { return 100; }
};

// Registered by a global fixture, but not removed with it: the fixture is torn down before
// the framework announces test_finish.
SummaryObserver summary_observer;

struct RegisterSummary {
  RegisterSummary() { utf::framework::register_observer(summary_observer); }
};

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(RegisterSummary);
