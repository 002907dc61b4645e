// The one precompiled header shared by every target that uses torch.
#pragma once
#include <torch/torch.h>
