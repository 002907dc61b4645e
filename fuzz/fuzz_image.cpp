// libFuzzer entry for the image harness (tests/fuzz/harnesses.hpp).
#include "tests/fuzz/harnesses.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return genbox::fuzz::image(data, size); }
