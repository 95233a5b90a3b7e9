// The unit tests' tolerance check: |got - want| <= atol * max|want| + rtol |want| for every
// element, naming the first element outside it and logging the largest error as a fraction of
// its bound.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace popup_test {

template <typename G, typename W>
void check_close(const std::string& what, const G* got, const std::vector<W>& want, double rtol,
                 double atol_scale) {
  double scale = 0;
  for (const W w : want) scale = std::max(scale, std::fabs(static_cast<double>(w)));
  size_t bad = 0, first = want.size();
  double worst = 0;  // the largest error as a fraction of its bound
  for (size_t k = 0; k < want.size(); ++k) {
    const double w = static_cast<double>(want[k]);
    const double bound = atol_scale * scale + rtol * std::fabs(w);
    const double error = std::fabs(static_cast<double>(got[k]) - w);
    worst = std::max(worst, bound > 0 ? error / bound : (error > 0 ? 1e30 : 0));
    if (!(error <= bound) && bad++ == 0) first = k;
  }
  std::ostringstream message;
  message << what << ": " << bad << " of " << want.size() << " elements outside tolerance";
  if (bad > 0)
    message << ", first at index " << first << ": got " << got[first] << ", want " << want[first]
            << " (largest |want| " << scale << ")";
  BOOST_CHECK_MESSAGE(bad == 0, message.str());
  BOOST_TEST_MESSAGE(what << ": largest error " << worst << " of its bound");
}

}  // namespace popup_test
