// Backend selection (lib/backend/device.hpp): --device parsing, the CPU fallback of auto, the error
// of cuda without a device, and the CUDA plugin itself: it loads with every symbol resolved, has
// this build's interface version, and reports a failure to start as text, not a crash.
#include <dlfcn.h>

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <string>

#include "backend/device.hpp"
#include "error.hpp"
#include "backend/executor.hpp"
#include "test_networks.hpp"

namespace utf = boost::unit_test;

namespace {

bool no_cuda_device() {
  std::string why;
  return popup::cuda_device_count(why) == 0;
}

boost::test_tools::assertion_result without_device(utf::test_unit_id) {
  boost::test_tools::assertion_result r(no_cuda_device());
  r.message() << "skipped (a CUDA device is present: the fallback cannot be seen)";
  return r;
}

boost::test_tools::assertion_result plugin_built(utf::test_unit_id) {
  boost::test_tools::assertion_result r(std::ifstream(popup::cuda_plugin_path()).good());
  r.message() << "skipped (no CUDA plugin at " << popup::cuda_plugin_path()
              << ": built only where nvcc and cuDNN are found)";
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(device)

BOOST_AUTO_TEST_CASE(device_names_parse) {
  BOOST_TEST(popup::device_parse("auto").kind == popup::DeviceChoice::automatic);
  BOOST_TEST(popup::device_parse("cpu").kind == popup::DeviceChoice::cpu);
  const popup::DeviceChoice c = popup::device_parse("cuda:3");
  BOOST_TEST(c.kind == popup::DeviceChoice::cuda);
  BOOST_TEST(c.index == 3);
  BOOST_TEST(popup::device_parse("cuda").index == 0);
  for (const char* bad : {"", "gpu", "cuda:", "cuda:-1", "cuda:x", "CPU", "cuda:99999"})
    BOOST_CHECK_THROW(popup::device_parse(bad), popup::InvalidArgument);
}

BOOST_AUTO_TEST_CASE(auto_falls_back_to_the_cpu_saying_why, *utf::precondition(&without_device)) {
  const popup::Network net = test_networks::flat_network();
  popup::ExecutorConfig config;
  std::string note;
  popup::DeviceChoice choice = popup::device_parse("auto");
  BOOST_TEST(popup::executor_create(net, config, choice, note)->device_name() == "cpu");
  BOOST_TEST(note.find("using the CPU") != std::string::npos, note);
  choice.quiet_fallback = true;  // auto by default: no line when there is no GPU at all
  BOOST_TEST(popup::executor_create(net, config, choice, note)->device_name() == "cpu");
  BOOST_TEST(note.empty(), note);
}

BOOST_AUTO_TEST_CASE(cuda_without_a_device_is_an_error_saying_why,
                     *utf::precondition(&without_device)) {
  const popup::Network net = test_networks::flat_network();
  std::string note;
  try {
    popup::executor_create(net, popup::ExecutorConfig(), popup::device_parse("cuda"), note);
    BOOST_ERROR("no error");
  } catch (const popup::Error& e) {
    BOOST_TEST(std::string(e.what()).find("--device cuda: ") == 0, e.what());
  }
}

BOOST_AUTO_TEST_CASE(plugin_loads_and_reports_start_failures_as_text,
                     *utf::precondition(&plugin_built)) {
  void* plugin = dlopen(popup::cuda_plugin_path().c_str(), RTLD_NOW | RTLD_LOCAL);
  BOOST_REQUIRE_MESSAGE(plugin, "dlopen: " << dlerror());
  auto* abi = reinterpret_cast<popup::CudaPluginAbi*>(dlsym(plugin, "popup_cuda_plugin_abi"));
  auto* create =
      reinterpret_cast<popup::CudaPluginCreate*>(dlsym(plugin, "popup_cuda_plugin_create"));
  BOOST_REQUIRE(abi && create);
  BOOST_TEST(abi() == popup::kCudaPluginAbi);
  // Only the entry points are exported: the library code inside stays private.
  BOOST_TEST(dlsym(plugin, "_ZN5popup13network_graphERKNS_7NetworkE") == nullptr);
  if (no_cuda_device()) {
    const popup::Network net = test_networks::flat_network();
    const popup::ExecutorConfig config;
    char error[512] = "";
    BOOST_TEST(create(&net, &config, 0, error, sizeof error) == nullptr);
    BOOST_TEST(std::string(error).find("CUDA") != std::string::npos, error);
  }
}

BOOST_AUTO_TEST_SUITE_END()
