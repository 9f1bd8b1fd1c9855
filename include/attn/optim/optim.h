// attn::optim in one include: optimizers (SGD, Adam, AdamW), learning-rate schedulers and
// gradient clipping, with torch.optim's semantics.
#pragma once
#include "attn/optim/adam.h"
#include "attn/optim/clip_grad.h"
#include "attn/optim/lr_scheduler.h"
#include "attn/optim/optimizer.h"
#include "attn/optim/sgd.h"
