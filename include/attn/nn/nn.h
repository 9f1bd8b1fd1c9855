// The nn layer (torch.nn): Module with named parameters, the basic layers, initialisers.
// Include this for all of it; each header can also be included on its own.
#pragma once
#include "attn/nn/activation.h"
#include "attn/nn/batchnorm.h"
#include "attn/nn/container.h"
#include "attn/nn/conv.h"
#include "attn/nn/dropout.h"
#include "attn/nn/embedding.h"
#include "attn/nn/init.h"
#include "attn/nn/linear.h"
#include "attn/nn/loss.h"
#include "attn/nn/module.h"
#include "attn/nn/normalization.h"
#include "attn/nn/pooling.h"
#include "attn/nn/rnn.h"
