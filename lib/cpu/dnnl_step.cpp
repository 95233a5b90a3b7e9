// One oneDNN primitive with its arguments, run through the C API without allocating.
#include "cpu/dnnl_step.hpp"

#include <oneapi/dnnl/dnnl_debug.h>

#include <string>

#include "error.hpp"

namespace popup {

DnnlStep dnnl_step_make(const dnnl::primitive& primitive,
                        std::vector<std::pair<int, dnnl::memory>> args, int tensor) {
  DnnlStep step;
  step.primitive = primitive;
  step.args = std::move(args);
  for (const auto& [arg, mem] : step.args) step.exec_args.push_back({arg, mem.get(true)});
  step.tensor = tensor;
  return step;
}

void dnnl_steps_run(const std::vector<DnnlStep>& steps, const dnnl::stream& stream,
                    const std::vector<float*>* grads, const std::function<void(size_t)>& after) {
  for (size_t k = 0; k < steps.size(); ++k) {
    const DnnlStep& step = steps[k];
    if (step.tensor >= 0 && grads && !(*grads)[static_cast<size_t>(step.tensor)]) {
      // skipped
    } else if (step.host) {
      step.host();
    } else {
      const dnnl_status_t status =
          dnnl_primitive_execute(step.primitive.get(), stream.get(),
                                 static_cast<int>(step.exec_args.size()), step.exec_args.data());
      if (status != dnnl_success)
        throw Error(
            "", std::string("oneDNN: could not execute a primitive: ") + dnnl_status2str(status));
    }
    if (after) after(k);
  }
}

}  // namespace popup
