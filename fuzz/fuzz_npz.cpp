// libFuzzer entry for the npz harness (tests/fuzz/harnesses_torch.hpp).
#include "tests/fuzz/harnesses_torch.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return genbox::fuzz::npz(data, size); }
