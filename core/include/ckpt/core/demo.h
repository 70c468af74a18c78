// The demo checkpoint: a small tree shaped like a Flax TrainState, used by `ckpt-studio --demo`,
// examples and tests. Values are deterministic.
#pragma once

#include "ckpt/core/tree.h"

namespace ckpt {

// {step, params{Dense_0{kernel f32[5,3], bias f32[3]}}, opt_state (adam: count, mu, nu),
//  config{learning_rate, model, layers}, data (list of int32 arrays)}.
NodePtr makeDemoTrainState();

}  // namespace ckpt
