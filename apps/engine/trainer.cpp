#include "engine/trainer.h"

#include <skipzoo/models/weights.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include "engine/autocast.h"
#include "engine/progress.h"
#include "engine/run_files.h"
#include "engine/stop.h"

namespace skipzoo::app {

namespace {

const auto kProcessStart = std::chrono::steady_clock::now();  // static initialisation: the process start

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1e", v);
  return buf;
}

}  // namespace

void to_json(nlohmann::json& j, const TrainOptions& o) {
  j = {{"epochs", o.epochs},
       {"iters", o.iters},
       {"time_budget", o.time_budget},
       {"val_every", o.val_every},
       {"checkpoint_every", o.checkpoint_every},
       {"optimizer", o.optimizer},
       {"schedule", o.schedule},
       {"clip_grad_norm", o.clip_grad_norm},
       {"device", o.device},
       {"amp", o.amp},
       {"layout", layout_name(o.layout)},
       {"weight_average", o.weight_average},
       {"sync_bn", o.distributed.sync_bn}};
}

void from_json(const nlohmann::json& j, TrainOptions& o) {
  o.epochs = j.value("epochs", o.epochs);
  o.iters = j.value("iters", o.iters);
  o.time_budget = j.value("time_budget", o.time_budget);
  o.val_every = j.value("val_every", o.val_every);
  o.checkpoint_every = j.value("checkpoint_every", o.checkpoint_every);
  if (j.contains("optimizer")) j.at("optimizer").get_to(o.optimizer);
  if (j.contains("schedule")) j.at("schedule").get_to(o.schedule);
  o.clip_grad_norm = j.value("clip_grad_norm", o.clip_grad_norm);
  o.device = j.value("device", o.device);
  o.amp = j.value("amp", o.amp);
  o.layout = parse_layout(j.value("layout", layout_name(o.layout)));
  o.weight_average = j.value("weight_average", o.weight_average);
  o.distributed.sync_bn = j.value("sync_bn", o.distributed.sync_bn);
}

double process_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - kProcessStart).count();
}

// Sums over the steps of the epoch in progress; a mid-epoch checkpoint keeps them, so the row
// of an interrupted and resumed epoch equals the uninterrupted one.
struct Trainer::Epoch {
  double loss = 0, lr = 0;
  int64_t losses = 0, images = 0;
  double seconds = 0, data = 0, compute = 0, optimizer = 0, logging = 0;  // the steps' wall time and its parts

  nlohmann::json to_json() const {
    return {{"loss", loss},       {"lr", lr},     {"losses", losses},         {"images", images},
            {"seconds", seconds}, {"data", data}, {"compute", compute}, {"optimizer", optimizer},
            {"logging", logging}};
  }
  static Epoch from_json(const nlohmann::json& j) {
    Epoch e;
    e.loss = j.value("loss", 0.0);
    e.lr = j.value("lr", 0.0);
    e.losses = j.value("losses", int64_t{0});
    e.images = j.value("images", int64_t{0});
    e.seconds = j.value("seconds", 0.0);
    e.data = j.value("data", 0.0);
    e.compute = j.value("compute", 0.0);
    e.optimizer = j.value("optimizer", 0.0);
    e.logging = j.value("logging", 0.0);
    return e;
  }
};

Trainer::Trainer(models::Model& model, BatchSource& data, TaskHooks& task, TrainOptions options, nlohmann::json config,
                 std::string run_dir, Distributed* group)
    : model_(model),
      data_(data),
      task_(task),
      options_(std::move(options)),
      config_(std::move(config)),
      run_dir_(std::move(run_dir)),
      device_(options_.device),
      pacer_(PaceOptions{}),
      group_(group) {
  if (device_.is_cuda() && !torch::cuda::is_available()) {
    throw std::runtime_error("device cuda: no CUDA device is available to this LibTorch build");
  }
  if (data_.batches_per_epoch() < 1) throw std::runtime_error("the training data yields no batch");
  task_.distribute(group_);
  model_.module().to(device_);
  optimizer_ = make_optimizer(model_.module(), options_.optimizer);
  state_.config_json = config_.dump();
  PaceOptions pace;
  pace.budget_s = options_.time_budget;
  pace.total_steps = options_.iters > 0 ? options_.iters : options_.epochs * data_.batches_per_epoch();
  pace.val_every = options_.val_every;
  pace.checkpoint_every_s = options_.checkpoint_every;
  pacer_ = Pacer(pace);
  if (writes()) std::filesystem::create_directories(run_dir_);
}

double Trainer::run_time() const { return earlier_sessions_ + process_seconds(); }

int64_t Trainer::total_steps() const { return pacer_.planned_total(state_.step, run_time()); }

void Trainer::resume(CheckpointReader& checkpoint) {
  checkpoint.load_model(model_.module());
  model_.module().to(device_);
  checkpoint.load_optimizer(*optimizer_);
  checkpoint.restore_rng();
  resumed_average_ = checkpoint.weight_average();
  state_ = checkpoint.state();
  state_.config_json = config_.dump();
  earlier_sessions_ = state_.elapsed;
  saved_step_ = state_.step;
  pacer_.restore(nlohmann::json::parse(state_.history_json));
  prepared_ = false;  // the layout is chosen again for the weights just loaded
}

const LayoutChoice& Trainer::prepare() {
  prepared_ = true;
  auto& module = model_.module();
  data_.start_epoch(state_.epoch, state_.batch);  // run() starts it again: the loader is deterministic
  Batch batch;
  if (!data_.next(batch)) throw std::runtime_error("the training data yields no batch");
  const auto inputs = batch.inputs.to(device_), targets = batch.targets.to(device_);
  const bool amp = options_.amp && device_.is_cuda();
  if (device_.is_cpu()) {
    // `skipzoo train` trains convolutional networks, whose matrix products (a classifier's head,
    // 0.002-0.05% of a ResNet's MACs) cannot be worth timing: OpenMP's pool gets the threads,
    // before the layout is timed, on every rank alike.
    pool_ = choose_thread_pool(threads_, c10::nullopt, {}, {});
  }
  if (inputs.dim() != 4 || (group_ && !group_->is_main())) {  // vector inputs; or rank 0 measures for all
    layout_ = choose_layout(Layout::Contiguous, {}, {});
    if (group_ && inputs.dim() == 4) {
      layout_.channels_last = group_->rank0(0) != 0;
      apply_layout(model_, layout_.channels_last);
    }
  } else {
    // The timed passes are real training passes: keep BatchNorm's running statistics as they were.
    std::vector<torch::Tensor> buffers;
    for (const auto& b : module.buffers()) buffers.push_back(b.clone());
    LayoutProbeOptions probe;
    probe.cache_file = options_.layout_cache;
    probe.workload = workload_key("train", model_.config, inputs, device_, amp);
    const auto loss = [&](const torch::Tensor& output) { return task_.loss(output, targets); };
    {
      // Rank 0 times passes alone: its loss and synchronised BatchNorm make no collectives meanwhile.
      std::optional<RankGroup::Alone> alone;
      if (group_) alone.emplace(*group_);
      layout_ = choose_layout(options_.layout, training_pass(model_, inputs, loss, device_, amp), probe);
    }
    {
      torch::NoGradGuard no_grad;
      auto now = module.buffers();
      for (size_t i = 0; i < buffers.size(); ++i) now[i].copy_(buffers[i]);
    }
    module.zero_grad(/*set_to_none=*/true);
    if (group_) layout_.channels_last = group_->rank0(layout_.channels_last) != 0;  // rank 0 measured for all
    apply_layout(model_, layout_.channels_last);
    if (layout_.times) {
      pacer_.expect_step(1.1 * (layout_.channels_last ? layout_.times->channels_last : layout_.times->contiguous));
    }
  }
  if (device_.is_cpu()) config_["thread_pool"] = pool_.to_json();
  config_["layout"] = layout_.to_json();
  state_.config_json = config_.dump();
  // After the layout (the Reducer's buckets follow the parameters' strides): rank 0's weights and
  // buffers everywhere, then gradients averaged over the ranks at every step.
  if (group_) parallel_ = group_->data_parallel(module);
  if (options_.weight_average > 0) {  // made in the chosen layout, from the weights as they are now
    average_ = std::make_unique<WeightAverage>(module, options_.weight_average);
    if (!resumed_average_.empty()) {
      copy_average(resumed_average_, average_->tensors(), "the resumed checkpoint");
      resumed_average_.clear();
    }
  }
  return layout_;
}

namespace {

// The first parameter or buffer holding inf or NaN (e.g. a BatchNorm running variance after a
// finite but exploding loss), or "" when all are finite.
std::string first_non_finite(const torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (const auto& p : module.named_parameters()) {
    if (!torch::isfinite(p.value()).all().item<bool>()) return p.key();
  }
  for (const auto& b : module.named_buffers()) {
    if (b.value().is_floating_point() && !torch::isfinite(b.value()).all().item<bool>()) return b.key();
  }
  return "";
}

}  // namespace

std::string Trainer::last_good_checkpoint() const {
  const auto last = std::filesystem::path(run_dir_) / "last.ckpt";
  return std::filesystem::exists(last) ? "The last good checkpoint is " + last.string()
                                       : "No checkpoint was written before it.";
}

double Trainer::save(const std::string& name) {
  if (!writes()) return 0;
  // Never write a state that cannot be used: the checkpoint, and every export made from it.
  if (const auto bad = first_non_finite(model_.module()); !bad.empty()) {
    throw NonFiniteLoss("the model's '" + bad + "' holds inf or NaN at epoch " + std::to_string(state_.epoch + 1) +
                        ", step " + std::to_string(state_.step) + " (the loss is exploding); " + name +
                        " was not written. Try a lower learning rate or gradient clipping. " + last_good_checkpoint());
  }
  const double start = run_time();
  state_.elapsed = start;
  const std::vector<torch::Tensor> none;
  // With the average in the model (best.ckpt) the model is what is kept: its tensors() are the
  // live weights then, which no reader wants.
  save_checkpoint((std::filesystem::path(run_dir_) / name).string(), state_, model_.module(), optimizer_.get(),
                  average_ && !average_->in_model() ? average_->tensors() : none);
  if (name == "last.ckpt") saved_step_ = state_.step;
  const double seconds = run_time() - start;
  pacer_.record_save(seconds);
  return seconds;
}

nlohmann::json Trainer::validate(int64_t epoch) {
  // Every rank validates (its share) the model rank 0 saves: the last step left each rank's BatchNorm
  // statistics (and their average) from its own share of the batch.
  if (parallel_) parallel_->sync_buffers();
  model_.module().eval();
  const bool channels_last = layout_.channels_last;
  auto metrics = task_.validate(
      [this, channels_last](const torch::Tensor& x) {
        c10::InferenceMode guard;
        return model_.forward(channels_last && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x);
      },
      device_, writes() ? run_dir_ : "", epoch);
  model_.module().train();
  return metrics;
}

double Trainer::train_step(const Batch& batch, double lr, Epoch& sums) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  set_lr(*optimizer_, lr);
  auto inputs = batch.inputs.to(device_, /*non_blocking=*/true);
  if (layout_.channels_last && inputs.dim() == 4) inputs = inputs.contiguous(at::MemoryFormat::ChannelsLast);
  const auto targets = batch.targets.to(device_, /*non_blocking=*/true);
  model_.module().zero_grad(/*set_to_none=*/true);
  torch::Tensor loss;
  {
    AutocastGuard autocast(device_, options_.amp && device_.is_cuda());
    if (parallel_) parallel_->before_forward();
    const auto logits = model_.forward(inputs);
    if (parallel_) parallel_->after_forward();
    loss = task_.loss(logits, targets);
  }
  double value = loss.item<double>();
  if (group_) {  // the global batch's mean loss, so every rank takes the same decision below
    auto mean = torch::tensor({value / group_->world_size()}, torch::kDouble);
    group_->sum_(mean);
    value = mean.item<double>();
  }
  if (!std::isfinite(value)) {
    throw NonFiniteLoss("the loss became " + std::to_string(value) + " at epoch " + std::to_string(state_.epoch + 1) +
                        ", step " + std::to_string(state_.step + 1) +
                        "; try a lower learning rate or gradient clipping. " + last_good_checkpoint());
  }
  loss.backward();
  const auto t1 = Clock::now();
  if (options_.clip_grad_norm > 0) {
    torch::nn::utils::clip_grad_norm_(model_.module().parameters(), options_.clip_grad_norm);
  }
  optimizer_->step();
  if (average_) average_->update(state_.step);
  const auto t2 = Clock::now();
  sums.compute += std::chrono::duration<double>(t1 - t0).count();
  sums.optimizer += std::chrono::duration<double>(t2 - t1).count();
  sums.loss += value;
  ++sums.losses;
  sums.images += inputs.size(0) * (group_ ? group_->world_size() : 1);  // the global batch: img/s of the run
  sums.lr = lr;
  return value;
}

TrainResult Trainer::run() {
  install_stop_handlers();
  if (!prepared_) prepare();
  const bool budget = options_.time_budget > 0;
  const bool tty = stdout_is_tty();
  TrainResult result;
  model_.module().train();
  std::cout << "layout: " << layout_.describe() << "\n";
  if (device_.is_cpu()) std::cout << "threads: " << pool_.describe() << "\n";

  bool final_step_done = false;  // the schedule's last step (lr at its floor) has been taken
  bool finished = false;
  while (!finished) {
    if ((stop_ = agree_to_stop())) {  // asked between epochs: the state is saved unless it just was
      if (state_.step != saved_step_) save("last.ckpt");
      break;
    }
    const int64_t epoch = state_.epoch;
    int64_t planned = total_steps();
    if (group_) planned = group_->rank0(planned);  // clocks differ: rank 0's plan is the run's
    if (!budget && state_.step >= planned) break;
    const int64_t per_epoch = data_.batches_per_epoch();
    const int64_t batches = budget ? per_epoch : std::min(per_epoch, state_.batch + (planned - state_.step));
    data_.start_epoch(epoch, state_.batch);
    Epoch sums = state_.batch > 0 ? Epoch::from_json(nlohmann::json::parse(state_.epoch_json)) : Epoch();
    const std::string label = "epoch " + std::to_string(epoch + 1) +
                              (budget ? "" : "/" + std::to_string((planned + per_epoch - 1) / per_epoch));
    Progress progress(label, batches, std::cout, tty);
    Batch batch;
    while (state_.batch < batches) {
      const double start = run_time();
      if (budget) {
        planned = total_steps();
        if (group_) planned = group_->rank0(planned);
        // Out of time, but the last step taken was not the schedule's last (a step ran long):
        // take one more at the floor, so the budget is overrun by at most that one step.
        if (planned <= state_.step) planned = state_.step + 1;
      }
      if (!data_.next(batch)) break;
      const double got = run_time();
      sums.data += got - start;
      const double lr = scheduled_lr(options_.optimizer.lr, state_.step, planned, options_.schedule);
      final_step_done = state_.step + 1 >= planned;
      train_step(batch, lr, sums);
      ++state_.step;
      ++state_.batch;
      const double ran = run_time();
      const double eta = pacer_.seconds_left(planned - state_.step, ran);
      progress.update(state_.batch, "loss " + fixed(sums.loss / static_cast<double>(sums.losses), 4) + "  lr " +
                                        sci(lr) + "  " + fixed(static_cast<double>(sums.images) / std::max(sums.seconds + ran - start, 1e-9), 1) +
                                        " img/s  wait " + fixed(100 * sums.data / std::max(sums.seconds + ran - start, 1e-9), 0) +
                                        "%  run ETA " + format_duration(eta));
      const double end = run_time();
      sums.logging += end - ran;
      sums.seconds += end - start;
      pacer_.record_step(end - start);
      stop_ = agree_to_stop();
      if (stop_) break;
      // The schedule's last step is taken: the run ends here even if the estimate of the steps
      // that fit has grown since (re-fitting would raise the lr from its floor again), and it
      // never opens an epoch without a step.
      if (budget && final_step_done) break;
    }
    const bool out_of_time = budget && final_step_done;
    if (stop_ && state_.batch < batches && !out_of_time) {  // interrupted mid-epoch: resume continues here
      progress.finish("interrupted at batch " + std::to_string(state_.batch) + "/" + std::to_string(batches));
      state_.epoch_json = sums.to_json().dump();
      save("last.ckpt");
      result.interrupted = true;
      break;
    }
    finished = budget ? out_of_time : state_.step >= planned;
    progress.finish(end_epoch(sums, finished, result));
  }
  if (writes()) write_run_logs(run_dir_, nlohmann::json::parse(state_.history_json), task_.main_metric());  // the last row's times
  result.interrupted = result.interrupted || (stop_ && !finished);
  result.epochs_done = state_.epoch;
  result.steps_done = state_.step;
  result.best_metric = state_.best_metric;
  result.best_epoch = state_.best_epoch;
  result.run_seconds = run_time();
  return result;
}

bool Trainer::agree_to_stop() {
  if (!group_) return stop_requested();
  auto asked = torch::tensor({static_cast<int64_t>(stop_requested())}, torch::kLong);
  group_->sum_(asked);
  return asked.item<int64_t>() > 0;
}

std::string Trainer::end_epoch(Epoch& sums, bool last, TrainResult& result) {
  const int64_t epoch = state_.epoch;
  const double seconds = std::max(sums.seconds, 1e-9);
  nlohmann::json row = {{"epoch", epoch + 1},
                        {"step", state_.step},
                        {"train_loss", sums.losses ? sums.loss / static_cast<double>(sums.losses) : 0.0},
                        {"lr", sums.lr},
                        {"images_per_s", static_cast<double>(sums.images) / seconds},
                        {"data_wait", sums.data / seconds},
                        {"seconds", sums.seconds},
                        {"time_data", sums.data},
                        {"time_compute", sums.compute},
                        {"time_optimizer", sums.optimizer}};
  std::string summary = "loss " + fixed(row["train_loss"].get<double>(), 4) + "  " +
                        fixed(row["images_per_s"].get<double>(), 1) + " img/s";
  state_.epoch = epoch + 1;
  state_.batch = 0;
  state_.epoch_json = "{}";
  double validation = 0, checkpoint = 0;
  bool validating = pacer_.validate_after(epoch + 1, state_.step, run_time(), last);
  if (group_) validating = group_->rank0(validating) != 0;
  bool best = false;
  std::optional<WeightAverage::InModel> average_in_model;
  if (validating) {
    const double start = run_time();
    // The average is what is validated, kept as best and exported. validate() broadcasts rank 0's
    // buffers after this swap, so every rank validates rank 0's averaged statistics.
    if (average_) average_in_model.emplace(*average_);
    auto metrics = validate(epoch);
    validation = run_time() - start;
    pacer_.record_validation(validation, run_time());
    const double main = metrics.value(task_.main_metric(), std::nan(""));
    for (auto& [key, value] : metrics.items()) row["val_" + key] = value;
    summary += "  val " + task_.main_metric() + " " + fixed(main, 4);
    if (std::isfinite(main) && main > state_.best_metric) {
      state_.best_metric = main;
      state_.best_epoch = epoch + 1;
      summary += " (best)";
      best = true;
    }
    result.last_metrics = metrics;
  }
  row["time_validation"] = validation;
  row["elapsed"] = run_time();
  auto history = nlohmann::json::parse(state_.history_json);
  history.push_back(row);
  state_.history_json = history.dump();
  if (best) checkpoint += save("best.ckpt");
  average_in_model.reset();
  if (last || validating || stop_ || pacer_.checkpoint_due(run_time())) {
    checkpoint += save("last.ckpt");
    pacer_.saved_at(run_time());
  }
  const double log_start = run_time();
  if (writes()) write_run_logs(run_dir_, history, task_.main_metric());
  const double logging = run_time() - log_start;
  pacer_.record_overhead(checkpoint + logging);
  // This epoch's own checkpoint and log times reach the files with the next write.
  history.back()["time_checkpoint"] = checkpoint;
  history.back()["time_logging"] = sums.logging + logging;
  state_.history_json = history.dump();
  return summary;
}

}  // namespace skipzoo::app
