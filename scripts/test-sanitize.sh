#!/usr/bin/env bash
# Builds the native addon with AddressSanitizer and UndefinedBehaviorSanitizer through cmake-js (the CMake
# build of the same sources binding.gyp builds) and runs the tests that reach native code against it, on the
# cpu backend only. node itself is not instrumented, so the sanitizer runtimes are preloaded into it.
set -euo pipefail
cd "$(dirname "$0")/.."

npx cmake-js compile --debug --out build-sanitize --CDCONVIS_SANITIZE=ON >/dev/null
export CONVIS_NATIVE=build-sanitize/Debug/convis_native.node
export CONVIS_BACKENDS=cpu
export LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
# node's own allocations outlive exit on purpose; the addon's are checked by the storage-count assertions
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
node scripts/run-tests.mjs test/native test/ops test/autograd
