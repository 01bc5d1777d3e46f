#pragma once
/// @file
/// Umbrella header: everything in skipzoo::models (networks and blocks, the model registry,
/// weights interchange, TorchScript export and the analyses).
#include <skipzoo/models/analysis.h>
#include <skipzoo/models/batch_norm_relu.h>
#include <skipzoo/models/blocks.h>
#include <skipzoo/models/export.h>
#include <skipzoo/models/layers.h>
#include <skipzoo/models/manual_batch_norm.h>
#include <skipzoo/models/mlp.h>
#include <skipzoo/models/norm.h>
#include <skipzoo/models/registry.h>
#include <skipzoo/models/resnet.h>
#include <skipzoo/models/script.h>
#include <skipzoo/models/unet.h>
#include <skipzoo/models/unet_resnet.h>
#include <skipzoo/models/weights.h>
