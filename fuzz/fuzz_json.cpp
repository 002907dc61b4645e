// libFuzzer entry for the json harness (tests/fuzz/harnesses.hpp).
#include "tests/fuzz/harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return genbox::fuzz::json(data, size); }
