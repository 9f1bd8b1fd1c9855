// The functional API: every op family, in namespace attn (torch.*) and reachable as attn::F::
// (torch.nn.functional.*). Each family has its own header; this one only gathers them.
#pragma once
#include "attn/ops/batch_norm.h"
#include "attn/ops/compare.h"
#include "attn/ops/conv.h"
#include "attn/ops/dropout.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/index.h"
#include "attn/ops/linalg.h"
#include "attn/ops/loss.h"
#include "attn/ops/normalization.h"
#include "attn/ops/pooling.h"
#include "attn/ops/reduce.h"
#include "attn/ops/rnn.h"
#include "attn/ops/shape.h"
#include "attn/ops/softmax.h"
#include "attn/ops/sort.h"
#include "attn/ops/unary.h"

namespace attn::F {
using namespace ::attn;
}  // namespace attn::F
