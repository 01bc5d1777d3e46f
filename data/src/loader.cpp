// The prefetching loader: persistent workers take sample positions from a shared counter and
// write into the batch slots of a small ring; the consumer takes batches in order.
#include "skipzoo/data/loader.h"

#include <opencv2/core.hpp>

#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "skipzoo/data/error.h"

namespace skipzoo::data {

namespace {
using Clock = std::chrono::steady_clock;

struct Slot {
  int64_t batch = -1;
  int64_t remaining = 0;
  Batch out;
  std::exception_ptr error;
};
}  // namespace

struct Loader::State {
  std::shared_ptr<const SampleSource> source;
  LoaderOptions options;
  int64_t batches = 0;

  std::mutex mutex;
  std::condition_variable work_cv, ready_cv;
  bool stop = false, started = false;
  uint64_t generation = 0;     // bumped by start_epoch: workers drop results of older ones
  int64_t epoch = 0, cursor = 0, next_position = 0, end_position = 0;
  // Sample of each position (modulo size); shared so workers keep the order they started with.
  std::shared_ptr<const std::vector<int64_t>> order;
  std::vector<Slot> slots;
  std::vector<std::thread> workers;
  double wait_total = 0, wait_epoch = 0;

  // Positions count this rank's samples: `share` per batch, the slots from `first_slot` on of
  // the global batch. One process: share = batch_size, first_slot = 0.
  int64_t share = 0, first_slot = 0;

  int64_t batch_size_of(int64_t b) const {
    return options.drop_last ? share : std::min(share, source->size() - b * share);
  }
  // The one-process position (which fixes the sample and its generator) of this rank's `position`.
  int64_t global_position(int64_t position) const {
    return position / share * options.batch_size + first_slot + position % share;
  }

  // Called with the mutex held: the slot of batch b, allocated on first use.
  Slot& slot_for(int64_t b) {
    Slot& s = slots[static_cast<size_t>(b % static_cast<int64_t>(slots.size()))];
    if (s.batch != b) {
      const int64_t n = batch_size_of(b);
      std::vector<int64_t> image_shape{n}, target_shape{n};
      for (int64_t d : source->image_shape()) image_shape.push_back(d);
      for (int64_t d : source->target_shape()) target_shape.push_back(d);
      s.batch = b;
      s.remaining = n;
      s.error = nullptr;
      s.out = Batch{torch::empty(image_shape, torch::kFloat), torch::empty(target_shape, torch::kLong),
                    std::vector<int64_t>(static_cast<size_t>(n)), epoch, b};
    }
    return s;
  }

  // Makes the sample at `position` into its slot. Called without the mutex.
  std::exception_ptr make(int64_t position, uint64_t epoch_seed, const std::vector<int64_t>& order_of,
                          const Batch& batch) const {
    const int64_t b = position / share, row = position % share, global = global_position(position);
    const int64_t sample = sample_at(order_of, global);
    try {
      Rng rng = Rng::for_sample(options.seed, epoch_seed, static_cast<uint64_t>(global));
      // The sample's slot in the whole batch: foreground oversampling takes the batch's last slots.
      const int64_t batch_size = options.world_size > 1 ? options.batch_size : batch_size_of(b);
      source->fill(sample, first_slot + row, batch_size, rng, batch.images[row], batch.targets[row]);
    } catch (...) {
      return std::current_exception();
    }
    return nullptr;
  }

  static int64_t sample_at(const std::vector<int64_t>& order_of, int64_t position) {
    return order_of[static_cast<size_t>(position % static_cast<int64_t>(order_of.size()))];
  }

  void work() {
    cv::setNumThreads(0);  // OpenCV's own pool would compete with the workers
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      work_cv.wait(lock, [&] {
        return stop || (started && next_position < end_position &&
                        next_position / share < cursor + static_cast<int64_t>(slots.size()));
      });
      if (stop) return;
      const int64_t position = next_position++;
      const uint64_t gen = generation;
      const auto e = static_cast<uint64_t>(epoch);
      Slot& s = slot_for(position / share);
      const Batch batch = s.out;  // tensor handles keep the memory alive if the slot is reused
      const auto order_of = order;
      lock.unlock();
      auto error = make(position, e, *order_of, batch);
      lock.lock();
      if (gen != generation) continue;
      s.out.items[static_cast<size_t>(position % share)] =
          source->item_of(sample_at(*order_of, global_position(position)));
      if (error && !s.error) s.error = error;
      if (--s.remaining == 0) ready_cv.notify_all();
    }
  }
};

Loader::Loader(std::shared_ptr<const SampleSource> source, LoaderOptions options) : state_(std::make_unique<State>()) {
  if (!source) throw std::invalid_argument("Loader: no source");
  if (source->size() < 1) throw DataError("the loader has no samples (empty dataset)");
  if (options.batch_size < 1 || options.prefetch < 1 || options.workers < 0)
    throw std::invalid_argument("Loader: batch_size and prefetch must be >= 1, workers >= 0");
  if (options.world_size < 1 || options.rank < 0 || options.rank >= options.world_size)
    throw std::invalid_argument("Loader: rank " + std::to_string(options.rank) + " is not in 0.." +
                                std::to_string(options.world_size - 1));
  if (options.world_size > 1 && (!options.drop_last || options.batch_size % options.world_size != 0))
    throw std::invalid_argument("Loader: a batch of " + std::to_string(options.batch_size) +
                                " cannot be shared evenly by " + std::to_string(options.world_size) + " ranks");
  auto& s = *state_;
  s.source = std::move(source);
  s.options = options;
  s.share = options.batch_size / options.world_size;
  s.first_slot = options.rank * s.share;
  const int64_t n = s.source->size(), b = options.batch_size;
  s.batches = options.drop_last ? std::max<int64_t>(1, n / b) : (n + b - 1) / b;
  s.slots.resize(static_cast<size_t>(options.prefetch));
  for (int i = 0; i < options.workers; ++i) s.workers.emplace_back([this] { state_->work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->work_cv.notify_all();
  for (auto& t : state_->workers) t.join();
}

int64_t Loader::batches_per_epoch() const { return state_->batches; }
const LoaderOptions& Loader::options() const { return state_->options; }

void Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  auto& s = *state_;
  if (epoch < 0 || first_batch < 0 || first_batch > s.batches)
    throw std::invalid_argument("start_epoch: epoch must be >= 0 and first_batch in 0.." + std::to_string(s.batches));
  const int64_t n = s.source->size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (s.options.shuffle) {
    Rng rng = Rng::for_sample(s.options.seed, static_cast<uint64_t>(epoch), UINT64_MAX);  // not a sample's stream
    rng.shuffle(order);
  }
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    ++s.generation;
    s.started = true;
    s.epoch = epoch;
    s.order = std::make_shared<const std::vector<int64_t>>(std::move(order));
    s.cursor = first_batch;
    s.next_position = first_batch * s.share;
    s.end_position = s.options.drop_last ? s.batches * s.share : n;
    for (auto& slot : s.slots) slot = Slot();
    s.wait_epoch = 0;
  }
  s.work_cv.notify_all();
}

bool Loader::next(Batch& batch) {
  auto& s = *state_;
  if (!s.started) start_epoch(0, 0);
  const auto t0 = Clock::now();
  std::unique_lock<std::mutex> lock(s.mutex);
  if (s.cursor >= s.batches) return false;
  const int64_t b = s.cursor;
  Slot* slot = nullptr;
  if (s.workers.empty()) {  // synchronous: make the batch here
    slot = &s.slot_for(b);
    const int64_t n = s.batch_size_of(b);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t position = b * s.share + i;
      auto error = s.make(position, static_cast<uint64_t>(s.epoch), *s.order, slot->out);
      if (error && !slot->error) slot->error = error;
      slot->out.items[static_cast<size_t>(i)] =
          s.source->item_of(State::sample_at(*s.order, s.global_position(position)));
    }
  } else {
    s.ready_cv.wait(lock, [&] {
      const Slot& c = s.slots[static_cast<size_t>(b % static_cast<int64_t>(s.slots.size()))];
      return c.batch == b && c.remaining == 0;
    });
    slot = &s.slots[static_cast<size_t>(b % static_cast<int64_t>(s.slots.size()))];
  }
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  s.wait_total += waited;
  s.wait_epoch += waited;
  ++s.cursor;
  batch = std::move(slot->out);
  const auto error = slot->error;
  *slot = Slot();
  lock.unlock();
  s.work_cv.notify_all();
  if (error) {
    try {
      std::rethrow_exception(error);
    } catch (const DataError&) {
      throw;
    } catch (const std::exception& e) {
      throw DataError(std::string("loading batch ") + std::to_string(b) + " failed: " + e.what());
    }
  }
  return true;
}

double Loader::wait_seconds() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->wait_total;
}

double Loader::epoch_wait_seconds() const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return state_->wait_epoch;
}

}  // namespace skipzoo::data
