// Names of the training methods (method.hpp).
#include "method.hpp"

#include "error.hpp"

namespace popup {

namespace {

struct Named {
  Method method;
  const char* name;
};

constexpr Named kMethods[] = {{Method::edge_popup, "edge-popup"},
                              {Method::supermask, "supermask"},
                              {Method::dense, "dense"},
                              {Method::global, "global"},
                              {Method::biprop, "biprop"}};

}  // namespace

Method method_parse(const std::string& name) {
  for (const Named& m : kMethods)
    if (name == m.name) return m.method;
  throw InvalidArgument("", "unknown method '" + name +
                                "' (known: edge-popup, supermask, dense, global, biprop)");
}

const char* method_name(Method method) {
  for (const Named& m : kMethods)
    if (method == m.method) return m.name;
  return "?";
}

}  // namespace popup
