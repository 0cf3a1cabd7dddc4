// Gaussian mixtures, connected components and boxes for localisation (issue 6): filled in by the localisation work.
#include "runtime.h"

namespace convis {
void registerSegment(Napi::Env, Napi::Object) {}
}  // namespace convis
