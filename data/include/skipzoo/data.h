#pragma once
/// @file
/// Umbrella header of skipzoo::data: image/mask IO, dataset layouts, patch sampling and
/// augmentation, the prefetching loader, sliding-window inference and the dataset tools.
#include "skipzoo/data/augment.h"
#include "skipzoo/data/classify.h"
#include "skipzoo/data/deploy.h"
#include "skipzoo/data/error.h"
#include "skipzoo/data/image.h"
#include "skipzoo/data/layout.h"
#include "skipzoo/data/loader.h"
#include "skipzoo/data/mask.h"
#include "skipzoo/data/patch.h"
#include "skipzoo/data/random.h"
#include "skipzoo/data/sources.h"
#include "skipzoo/data/tiler.h"
#include "skipzoo/data/tools.h"
