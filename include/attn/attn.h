// attn: attention mechanisms on a small, fast tensor + autograd core. Include this for everything.
#pragma once
#include "attn/core/autograd.h"
#include "attn/core/dtype.h"
#include "attn/core/gradcheck.h"
#include "attn/core/random.h"
#include "attn/core/tensor.h"
#include "attn/kernels/config.h"
#include "attn/ops/functional.h"
#include "attn/nn/nn.h"
#include "attn/optim/optim.h"
#include "attn/io/safetensors.h"
#include "attn/io/state_dict.h"
