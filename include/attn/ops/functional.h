// The functional API: every op family, in namespace attn (torch.*) and reachable as attn::F::
// (torch.nn.functional.*). Each family has its own header; this one only gathers them.
#pragma once
#include "attn/ops/elementwise.h"

namespace attn::F {
using namespace ::attn;
}  // namespace attn::F
