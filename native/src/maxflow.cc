// Boykov–Kolmogorov max-flow / min-cut (issue 6): filled in by the localisation work.
#include "runtime.h"

namespace convis {
void registerMaxflow(Napi::Env, Napi::Object) {}
}  // namespace convis
