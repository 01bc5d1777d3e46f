#pragma once
/// @file
/// A prefetching batch loader: worker threads decode, sample and augment each sample straight
/// into its slot of a batch tensor allocated once per batch, a bounded number of batches ahead.
///
/// Determinism: sample p of epoch e (p = batch * batch_size + slot) uses the generator
/// Rng::for_sample(seed, e, p), and the epoch's order is a function of (seed, e). So batches do
/// not depend on thread scheduling or on the number of workers, and an epoch can resume at any
/// batch with exactly the batches it would have produced.
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "skipzoo/data/random.h"

namespace skipzoo::data {

/// What the loader fills batches with (see sources.h for the datasets' own). Implementations
/// are called from several threads at once: fill() must be thread-safe.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  /// Samples per epoch.
  virtual int64_t size() const = 0;
  /// The dataset item a sample comes from (several samples may share one).
  virtual int64_t item_of(int64_t sample) const { return sample; }
  /// [C, H, W] of every sample.
  virtual std::vector<int64_t> image_shape() const = 0;
  /// {} (a class id) or {H, W} (a label map).
  virtual std::vector<int64_t> target_shape() const = 0;
  /// Writes one sample into `image` (float [C, H, W]) and `target` (int64, target_shape()),
  /// both contiguous views into the batch. `slot` and `batch_size` locate it in its batch; all
  /// randomness must come from `rng`. Throws DataError for bad data.
  virtual void fill(int64_t sample, int64_t slot, int64_t batch_size, Rng& rng, torch::Tensor image,
                    torch::Tensor target) const = 0;
};

/// Options of Loader.
struct LoaderOptions {
  int64_t batch_size = 8;   ///< samples per batch, >= 1
  int workers = 2;          ///< >= 0; 0: samples are made in the consumer's thread, in next()
  int64_t prefetch = 4;     ///< >= 1; batches being made or waiting ahead of the consumer
  uint64_t seed = 0;        ///< with the epoch and position, determines every sample and the order
  bool shuffle = true;      ///< a new order every epoch; false: dataset order
  /// true: batches_per_epoch = max(1, size / batch) full batches (wrapping around if the dataset
  /// is smaller than one batch); false: every sample once, the last batch possibly smaller.
  bool drop_last = true;
  /// Data-parallel training: this process makes only its share of each batch, slots
  /// [rank * B / world_size, (rank + 1) * B / world_size) of the batch of B = batch_size samples
  /// that one process would make, with the same samples, order and generators. So the ranks
  /// together see exactly the one-process batches, whatever their number. Needs drop_last and
  /// batch_size divisible by world_size.
  int rank = 0;
  int world_size = 1;  ///< >= 1
};

/// One batch as next() returns it.
struct Batch {
  torch::Tensor images;          ///< float [B, C, H, W] (B: this rank's share of the batch)
  torch::Tensor targets;         ///< int64 [B] or [B, H, W]
  std::vector<int64_t> items;    ///< the dataset item of each sample
  int64_t epoch = 0, index = 0;  ///< which batch this is: its epoch and its index in the epoch
};

/// The prefetching loader over one SampleSource; one consumer thread calls next().
class Loader {
 public:
  /// Starts the workers (they wait for the first epoch). Throws std::invalid_argument for a null
  /// source, batch_size or prefetch < 1 or workers < 0, a rank outside [0, world_size) or a batch
  /// it cannot share evenly (or without drop_last), and DataError for an empty source.
  Loader(std::shared_ptr<const SampleSource> source, LoaderOptions options);
  /// Stops and joins the workers, even mid-epoch.
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  /// Batches next() returns per epoch (see LoaderOptions::drop_last).
  int64_t batches_per_epoch() const;
  /// The options the loader was made with.
  const LoaderOptions& options() const;
  /// Starts (or restarts) epoch `epoch` at batch `first_batch`; work of the previous epoch is
  /// dropped. next() without start_epoch() starts epoch 0. Throws std::invalid_argument unless
  /// epoch >= 0 and 0 <= first_batch <= batches_per_epoch().
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the epoch, or false at its end. Rethrows a sample's error as DataError
  /// (naming the batch unless it was a DataError already).
  bool next(Batch& batch);
  /// Seconds next() spent waiting for batches since construction.
  double wait_seconds() const;
  /// Seconds next() spent waiting for batches since the last start_epoch().
  double epoch_wait_seconds() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace skipzoo::data
